// Package blobstest runs an S3 server in the test process for the blob store's tests and
// those of its users: github.com/johannesboyne/gofakes3 speaks the S3 protocol over real HTTP
// and keeps the objects in memory.
package blobstest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

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
	clock    *clock
}

// clock is the server's time, shifted by an offset (Backdate).
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Backdate stamps the objects written from now on d earlier than the time (0: the time
// again), as if they had been written long ago.
func (s *S3) Backdate(d time.Duration) {
	s.clock.mu.Lock()
	defer s.clock.mu.Unlock()
	s.clock.offset = -d
}

// Bucket is the name of the bucket NewS3 creates.
const Bucket = "epcflow-test"

// NewS3 starts a server with an empty bucket.
func NewS3(t testing.TB) *S3 {
	t.Helper()
	c := &clock{}
	backend := s3mem.New(s3mem.WithTimeSource(c))
	if err := backend.CreateBucket(Bucket); err != nil {
		t.Fatalf("blobstest: create bucket: %v", err)
	}
	// No check of the client's clock against the server's: Backdate moves the server's.
	faker := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()), gofakes3.WithTimeSource(c), gofakes3.WithTimeSkewLimit(0))
	s := &S3{requests: map[string]int{}, clock: c}
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
