package posemu

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
)

func TestPOSSessionAndDeliveryRoom(t *testing.T) {
	var logs testkit.Logs
	e := newEnv(t, func(o *core.Options) {
		o.Logger = logs.Text()
	})
	e.postPackage(testPackage(), http.StatusCreated)

	s := e.mustSession("rcp-1", "user-a")
	if !strings.HasPrefix(s.URL, e.URL+"/deliveryroom/") || s.SessionID == "" {
		t.Fatalf("session %+v (url prefix %v)", s, strings.HasPrefix(s.URL, e.URL+"/deliveryroom/"))
	}
	if want := e.Clock.Now().Add(30 * time.Second); !s.ExpiresAt.Equal(want) {
		t.Errorf("expiresAt %s, want %s", s.ExpiresAt, want)
	}

	page := e.Do(http.MethodGet, s.URL, nil)
	if page.Status != http.StatusOK || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("first use: %d %s", page.Status, page.Header.Get("Content-Type"))
	}
	if want := "ICE Delivery Room (sandbox) — package pkg-1, recipient rcp-1, user user-a"; !strings.Contains(string(page.Body), want) {
		t.Errorf("page %s does not say %q", page.Body, want)
	}
	if again := e.Do(http.MethodGet, s.URL, nil); again.Status != http.StatusConflict {
		t.Errorf("second use: %d, want 409", again.Status)
	}
	if e.Clock.Advance(time.Minute); e.Do(http.MethodGet, s.URL, nil).Status != http.StatusConflict {
		t.Error("a used URL must stay 409 once expired")
	}
	if rep := e.Do(http.MethodGet, "/deliveryroom/no-such-token", nil); rep.Status != http.StatusNotFound {
		t.Errorf("unknown token: %d, want 404", rep.Status)
	}

	// The control view shows the session and the binding, never the token.
	rep := e.Do(http.MethodGet, "/sandbox/pos/packages/pkg-1", nil)
	token := s.URL[strings.LastIndex(s.URL, "/")+1:]
	if rep.Status != http.StatusOK || strings.Contains(string(rep.Body), token) {
		t.Fatalf("control view: %d, token shown: %v", rep.Status, strings.Contains(string(rep.Body), token))
	}
	var v struct {
		Sessions []struct{ SessionID, State string }    `json:"sessions"`
		Bindings []struct{ RecipientID, UserID string } `json:"bindings"`
	}
	rep.JSON(t, &v)
	if len(v.Sessions) != 1 || v.Sessions[0].SessionID != s.SessionID || v.Sessions[0].State != "used" {
		t.Errorf("sessions %+v", v.Sessions)
	}
	if len(v.Bindings) != 1 || v.Bindings[0].RecipientID != "rcp-1" || v.Bindings[0].UserID != "user-a" {
		t.Errorf("bindings %+v", v.Bindings)
	}
	if rep := e.Do(http.MethodGet, "/sandbox/pos/packages/pkg-9", nil); rep.Status != http.StatusNotFound {
		t.Errorf("unknown package view: %d", rep.Status)
	}
	out := logs.String()
	if !strings.Contains(out, "route=\"GET /deliveryroom/{token}\"") || !strings.Contains(out, s.SessionID) {
		t.Errorf("expected log lines missing:\n%s", out)
	}
	if strings.Contains(out, token) {
		t.Errorf("the one-time token is in the log:\n%s", out)
	}
}

func TestPOSDeliveryRoomExpires(t *testing.T) {
	e := newEnv(t)
	e.postPackage(testPackage(), http.StatusCreated)

	early := e.mustSession("rcp-1", "user-a")
	late := e.mustSession("rcp-1", "user-a")
	e.Clock.Advance(30*time.Second - time.Millisecond)
	if rep := e.Do(http.MethodGet, early.URL, nil); rep.Status != http.StatusOK {
		t.Fatalf("at 29.999 s: %d, want 200", rep.Status)
	}
	e.Clock.Advance(time.Millisecond)
	if rep := e.Do(http.MethodGet, late.URL, nil); rep.Status != http.StatusGone {
		t.Fatalf("at 30 s: %d, want 410", rep.Status)
	}
	rep := e.Do(http.MethodGet, "/sandbox/pos/packages/pkg-1", nil)
	var v struct {
		Sessions []struct{ State string } `json:"sessions"`
	}
	rep.JSON(t, &v)
	if len(v.Sessions) != 2 || v.Sessions[0].State != "used" || v.Sessions[1].State != "expired" {
		t.Errorf("sessions %+v", v.Sessions)
	}
}

func TestPOSSessionSignature(t *testing.T) {
	e := newEnv(t)
	e.postPackage(testPackage(), http.StatusCreated)

	for _, tc := range []struct {
		name           string
		sub, key, sec  string
		header, reason string
	}{
		{"wrong secret", DefaultSubscriptionID, DefaultSigningKeyID, "guessed-secret", "Elli-Signature", "signature does not match the body"},
		{"unknown key id", DefaultSubscriptionID, "other-key", DefaultSigningSecret, "Elli-SigningKeyId", "unknown signing key id"},
		{"another integration", "other-integration", DefaultSigningKeyID, DefaultSigningSecret, "Elli-SubscriptionId", "unknown subscription id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signer, err := pos.NewSigner("", tc.sub, tc.key, tc.sec)
			if err != nil {
				t.Fatal(err)
			}
			c := &pos.DeliveryRoomClient{BaseURL: e.URL, Signer: signer}
			_, err = c.CreateSession(context.Background(), pos.CreateSessionRequest{
				InstanceID: "BE11140034", GroupNamespace: "loans", GroupID: "loan-1", PackageID: "pkg-1",
				RecipientID: "rcp-1", UserID: "user-a",
			})
			ae := wantAPIStatus(t, err, http.StatusUnauthorized, tc.header+": "+tc.reason)
			if !ae.BadSignature() {
				t.Error("BadSignature() = false")
			}
		})
	}

	// Raw requests: each header missing or wrong in turn.
	body := []byte(`{"instanceId":"BE11140034","groupNamespace":"loans","groupId":"loan-1","packageId":"pkg-1","recipientId":"rcp-1","userId":"user-a"}`)
	good := e.client.Signer.Header(body)
	for _, tc := range []struct {
		header, value, want string
	}{
		{"Elli-Environment", "", "Elli-Environment: header missing"},
		{"Elli-Environment", "dev", `Elli-Environment: wrong environment (got "dev", want "prod")`},
		{"Elli-SubscriptionId", "", "Elli-SubscriptionId: header missing"},
		{"Elli-SigningKeyId", "", "Elli-SigningKeyId: header missing"},
		{"Elli-Signature", "", "Elli-Signature: header missing"},
		{"Elli-Signature", "bm90IGEgbWFj", "Elli-Signature: signature does not match the body (not a base64 HMAC-SHA256)"},
	} {
		args := []string{"Content-Type", "application/json"}
		for k := range good {
			v := good.Get(k)
			if k == http.CanonicalHeaderKey(tc.header) {
				v = tc.value
			}
			args = append(args, k, v)
		}
		rep := e.Do(http.MethodPost, "/pos/v1/sessions", body, args...)
		if rep.Status != http.StatusUnauthorized || rep.Err(t).Message != tc.want {
			t.Errorf("%s=%q: %d %s, want 401 %q", tc.header, tc.value, rep.Status, rep.Body, tc.want)
		}
	}
	// Signed, but the body is wrong: 400 at its pointers (after the signature, not before).
	bad := []byte(`{"instanceId":"BE11140034","groupNamespace":"loans","groupId":"loan-1","packageId":"pkg-1","recipientId":" ","user":"a"}`)
	args := []string{"Content-Type", "application/json"}
	for k := range good {
		args = append(args, k, e.client.Signer.Header(bad).Get(k))
	}
	rep := e.Do(http.MethodPost, "/pos/v1/sessions", bad, args...)
	if rep.Status != http.StatusBadRequest {
		t.Fatalf("bad body: %d %s", rep.Status, rep.Body)
	}
	sbtest.WantPointers(t, rep.Err(t), "/recipientId", "/user", "/userId")
}

func TestPOSSessionPackageAndRecipient(t *testing.T) {
	e := newEnv(t)
	e.postPackage(testPackage(), http.StatusCreated)

	_, err := e.session("rcp-9", "user-a")
	if ae := wantAPIStatus(t, err, http.StatusForbidden, `recipient "rcp-9" is not a recipient of package "pkg-1"`); !ae.Forbidden() {
		t.Error("Forbidden() = false")
	}
	_, err = e.client.CreateSession(context.Background(), pos.CreateSessionRequest{
		InstanceID: "BE11140034", GroupNamespace: "loans", GroupID: "loan-1", PackageID: "pkg-9", RecipientID: "rcp-1", UserID: "user-a",
	})
	if ae := wantAPIStatus(t, err, http.StatusNotFound, `package "pkg-9" not found`); !ae.UnknownPackage() {
		t.Error("UnknownPackage() = false")
	}
	_, err = e.client.CreateSession(context.Background(), pos.CreateSessionRequest{
		InstanceID: "BE11140034", GroupNamespace: "loans", GroupID: "loan-2", PackageID: "pkg-1", RecipientID: "rcp-1", UserID: "user-a",
	})
	wantAPIStatus(t, err, http.StatusNotFound, "under the groupId given")
}

func TestPOSBinding(t *testing.T) {
	e := newEnv(t)
	e.postPackage(testPackage(), http.StatusCreated)

	e.mustSession("rcp-1", "user-a")
	_, err := e.session("rcp-1", "user-b")
	wantAPIStatus(t, err, http.StatusForbidden, `recipient "rcp-1" is bound to another user`)
	e.mustSession("rcp-1", "user-a")
	// The other recipient is free until its own first session.
	e.mustSession("rcp-2", "user-b")

	// A resent package (a changed e-mail) keeps every binding, and so does one that drops the
	// recipient: the binding stays, the recipient is gone.
	pkg := testPackage()
	pkg["recipients"].([]any)[0].(map[string]any)["email"] = "alice.new@example.com"
	pr := e.postPackage(pkg, http.StatusOK)
	if pr.Package.EventsSent != 2 || pr.Package.Recipients[0].Email != "alice.new@example.com" || len(pr.Package.Bindings) != 2 {
		t.Fatalf("after resend: %+v", pr.Package)
	}
	_, err = e.session("rcp-1", "user-c")
	wantAPIStatus(t, err, http.StatusForbidden, "bound to another user")
	e.mustSession("rcp-1", "user-a")

	pkg["recipients"] = pkg["recipients"].([]any)[1:]
	pr = e.postPackage(pkg, http.StatusOK)
	if len(pr.Package.Recipients) != 1 || len(pr.Package.Bindings) != 2 {
		t.Fatalf("after dropping rcp-1: %+v", pr.Package)
	}
	_, err = e.session("rcp-1", "user-a")
	wantAPIStatus(t, err, http.StatusForbidden, "not a recipient")
}

func TestPOSBindingRace(t *testing.T) {
	e := newEnv(t)
	e.postPackage(testPackage(), http.StatusCreated)
	const users = 8
	var wg sync.WaitGroup
	errs := make([]error, users)
	start := make(chan struct{})
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = e.session("rcp-1", fmt.Sprintf("user-%d", i))
		}()
	}
	close(start)
	wg.Wait()
	winners := 0
	for _, err := range errs {
		var ae *pos.APIError
		switch {
		case err == nil:
			winners++
		case errors.As(err, &ae) && ae.Forbidden():
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d users won the recipient, want exactly 1", winners)
	}
}
