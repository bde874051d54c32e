// Package blobstest runs an S3 server in the test process for the blob store's tests and
// those of its users: github.com/johannesboyne/gofakes3 speaks the S3 protocol over real HTTP
// and keeps the objects in memory.
package blobstest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/epcflow/epcflow/blobs"
)

// S3 is an S3 server holding one empty bucket, stopped when the test ends.
type S3 struct {
	// Config reaches the bucket, with credentials of its own.
	Config blobs.S3Config

	mu       sync.Mutex
	requests map[string]int // by HTTP method
}

// Bucket is the name of the bucket NewS3 creates.
const Bucket = "epcflow-test"

// NewS3 starts a server with an empty bucket.
func NewS3(t testing.TB) *S3 {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(Bucket); err != nil {
		t.Fatalf("blobstest: create bucket: %v", err)
	}
	faker := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	s := &S3{requests: map[string]int{}}
	h := faker.Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests[r.Method]++
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.Config = blobs.S3Config{
		Endpoint: srv.URL, Region: "us-east-1", Bucket: Bucket, PathStyle: true,
		AccessKeyID: "test-access-key", SecretAccessKey: "test-secret-key", SpoolDir: t.TempDir(),
	}
	return s
}

// Requests counts the requests the server received with the HTTP method.
func (s *S3) Requests(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[method]
}
