package epcemu

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
)

// benchSandbox is a sandbox whose webhooks go to a receiver that answers 200 at once, with a
// transaction and a token ready.
func benchSandbox(b *testing.B) (h http.Handler, txID, token string) {
	b.Helper()
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	b.Cleanup(rc.Close)
	rt := sbtest.Runtime(b, sbtest.NewClock(), func(o *core.Options) { o.Clock = time.Now })
	b.Cleanup(rt.Close)
	rt.SetPublicURL("http://sandbox.test")
	New(rt, Config{PartnerURL: rc.URL, ClientID: sbtest.ClientID, ClientSecret: sbtest.ClientSecret, SigningKey: sbtest.SigningKey, TokenLifetime: time.Hour})
	h = rt.Handler()

	var seed struct {
		Request json.RawMessage `json:"request"`
	}
	testkit.FixtureJSON(b, seed002, &seed)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/sandbox/epc/transactions",
		strings.NewReader(`{"request":`+string(seed.Request)+`}`))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	var tx struct{ ID string }
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &tx) != nil {
		b.Fatalf("create: %d %s", rec.Code, rec.Body)
	}

	rec = httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodPost, "/oauth2/v1/token", strings.NewReader("grant_type=client_credentials&scope=pc+pcapi&client_id="+sbtest.ClientID+"&client_secret="+sbtest.ClientSecret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &tok)
	return h, tx.ID, tok.AccessToken
}

func BenchmarkGetTransaction(b *testing.B) {
	h, id, tok := benchSandbox(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/partner/v2/transactions/"+id, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("GET: %d", rec.Code)
			}
		}
	})
}

func BenchmarkPatchResponse(b *testing.B) {
	h, id, tok := benchSandbox(b)
	body := []byte(`{"status":"processing","partnerStatus":"Inspection scheduled","referenceNumber":"TWX104356"}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPatch, "/partner/v2/transactions/"+id+"/response", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusNoContent {
				b.Fatalf("PATCH: %d %s", rec.Code, rec.Body)
			}
		}
	})
}
