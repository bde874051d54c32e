package pos_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/schemas"
)

var sessionReq = pos.CreateSessionRequest{
	InstanceID: "BE11140034", GroupNamespace: "loans", GroupID: "g-1",
	PackageID: "p-1", RecipientID: "r-1", UserID: "u-1",
}

const secretURL = "https://dr.example.com/deliveryroom/one-time-secret-token"

// fakePOS answers Create a Session with status and body, after checking the request with
// the verifier of the signer the client uses.
func fakePOS(t *testing.T, s *pos.Signer, status int, body string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	v := s.Verifier()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		raw, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != pos.SessionsPath {
			http.Error(w, "wrong route "+r.Method+" "+r.URL.Path, http.StatusTeapot)
			return
		}
		if err := v.Verify(r.Header, raw); err != nil {
			http.Error(w, err.Error(), http.StatusTeapot)
			return
		}
		if _, err := pos.ParseCreateSessionRequest(raw); err != nil {
			http.Error(w, err.Error(), http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestCreateSession(t *testing.T) {
	s := mustSigner(t, "", "integration-1", "key-1", "secret-1")
	srv, _ := fakePOS(t, s, http.StatusCreated,
		`{"sessionId":"s-1","url":"`+secretURL+`","expiresAt":"2026-03-01T12:00:30Z"}`)
	c := &pos.DeliveryRoomClient{BaseURL: srv.URL + "/", Signer: s, HTTPClient: srv.Client()}
	got, err := c.CreateSession(context.Background(), sessionReq)
	if err != nil {
		t.Fatal(err)
	}
	want := pos.Session{SessionID: "s-1", URL: secretURL, ExpiresAt: time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for _, out := range []string{got.String(), fmt.Sprintf("%v %+v %#v", got, got, got)} {
		if strings.Contains(out, "one-time-secret-token") {
			t.Errorf("session prints its URL: %s", out)
		}
	}
}

func TestCreateSessionErrors(t *testing.T) {
	s := mustSigner(t, "", "integration-1", "key-1", "secret-1")
	for _, tc := range []struct {
		name   string
		status int
		body   string
		check  func(*pos.APIError) bool
		msg    string
	}{
		{"bad signature", 401, `{"code":"unauthorized","message":"Elli-Signature: signature does not match the body"}`,
			(*pos.APIError).BadSignature, "Elli-Signature: signature does not match the body"},
		{"recipient bound to another user", 403, `{"code":"forbidden","message":"recipient r-1 is bound to another user"}`,
			(*pos.APIError).Forbidden, "recipient r-1 is bound to another user"},
		{"unknown package", 404, `{"message":"package p-1 not found"}`, (*pos.APIError).UnknownPackage, "package p-1 not found"},
		{"used", 409, `{"error":"already used"}`, (*pos.APIError).Used, "already used"},
		{"expired", 410, `{"message":"expired"}`, (*pos.APIError).Expired, "expired"},
		{"outage", 503, "<html>\n  Service   Unavailable\n</html>", (*pos.APIError).Retryable, "<html> Service Unavailable </html>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := fakePOS(t, s, tc.status, tc.body)
			c := &pos.DeliveryRoomClient{BaseURL: srv.URL, Signer: s}
			_, err := c.CreateSession(context.Background(), sessionReq)
			var ae *pos.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T), want *pos.APIError", err, err)
			}
			if ae.Status != tc.status || ae.Message != tc.msg || !tc.check(ae) {
				t.Errorf("got %+v, want status %d message %q", ae, tc.status, tc.msg)
			}
			if ae.Retryable() != (tc.status >= 500) {
				t.Errorf("Retryable = %v for %d", ae.Retryable(), tc.status)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(tc.status)) {
				t.Errorf("error %q does not give the status", err)
			}
		})
	}
}

func TestCreateSessionBadReplyKeepsURLSecret(t *testing.T) {
	s := mustSigner(t, "", "integration-1", "key-1", "secret-1")
	for _, body := range []string{
		`{"url":"` + secretURL + `"}`,
		`{"sessionId":"s","url":"` + secretURL + `","expiresAt":"tomorrow"}`,
		`{"sessionId":"s","url":"ftp://host/one-time-secret-token","expiresAt":"2026-03-01T12:00:30Z"}`,
		`["` + secretURL + `"]`,
	} {
		srv, _ := fakePOS(t, s, http.StatusCreated, body)
		c := &pos.DeliveryRoomClient{BaseURL: srv.URL, Signer: s}
		_, err := c.CreateSession(context.Background(), sessionReq)
		if err == nil {
			t.Fatalf("reply %s accepted", body)
		}
		if strings.Contains(err.Error(), "one-time-secret-token") {
			t.Errorf("error leaks the URL: %v", err)
		}
	}
}

func TestCreateSessionValidatesFirst(t *testing.T) {
	s := mustSigner(t, "", "integration-1", "key-1", "secret-1")
	srv, calls := fakePOS(t, s, http.StatusCreated, `{}`)
	c := &pos.DeliveryRoomClient{BaseURL: srv.URL, Signer: s}
	req := sessionReq
	req.RecipientID = ""
	req.UserID = " "
	_, err := c.CreateSession(context.Background(), req)
	checkProblems(t, err, pos.CreateSessionDocument, []schemas.Problem{
		{Pointer: "/recipientId", Message: "required"},
		{Pointer: "/userId", Message: "must not be blank"},
	})
	if calls.Load() != 0 {
		t.Errorf("%d calls made with an invalid request", calls.Load())
	}
	for _, c := range []*pos.DeliveryRoomClient{
		{BaseURL: srv.URL},
		{BaseURL: "not a url", Signer: s},
	} {
		if _, err := c.CreateSession(context.Background(), sessionReq); err == nil {
			t.Errorf("client %+v made a call", c)
		}
	}
}

func TestCreateSessionTransportError(t *testing.T) {
	s := mustSigner(t, "", "integration-1", "key-1", "secret-1")
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	c := &pos.DeliveryRoomClient{BaseURL: base, Signer: s}
	_, err := c.CreateSession(context.Background(), sessionReq)
	var ae *pos.APIError
	if err == nil || errors.As(err, &ae) {
		t.Fatalf("error %v, want a transport error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.CreateSession(ctx, sessionReq); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

func TestParseCreateSessionRequest(t *testing.T) {
	b, _ := json.Marshal(sessionReq)
	got, err := pos.ParseCreateSessionRequest(b)
	if err != nil || got != sessionReq {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	_, err = pos.ParseCreateSessionRequest([]byte(`{"instanceId":"i","groupNamespace":"loans","groupId":5,"packageId":"p","recipientID":"r","userId":"u"}`))
	checkProblems(t, err, pos.CreateSessionDocument, []schemas.Problem{
		{Pointer: "/groupId", Message: "must be a string, got number"},
		{Pointer: "/recipientID", Message: "unknown property (allowed: instanceId, groupNamespace, groupId, packageId, recipientId, userId)"},
		{Pointer: "/recipientId", Message: "required"},
	})
}
