package posemu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
)

func TestPOSPackageEventDelivered(t *testing.T) {
	e := newEnv(t)
	pr := e.postPackage(testPackage(), http.StatusCreated)

	got := e.partner.Received()
	if len(got) != 1 {
		t.Fatalf("partner got %d events, want 1", len(got))
	}
	ev := got[0]
	// The signature, checked independently of the pos package.
	m := hmac.New(sha256.New, []byte(DefaultSigningSecret))
	m.Write(ev.Body)
	want := map[string]string{
		"Elli-Environment":    "prod",
		"Elli-SubscriptionId": DefaultSubscriptionID,
		"Elli-SigningKeyId":   DefaultSigningKeyID,
		"Elli-Signature":      base64.StdEncoding.EncodeToString(m.Sum(nil)),
		"Content-Type":        "application/json",
	}
	for k, w := range want {
		if g := ev.Header.Get(k); g != w {
			t.Errorf("%s = %q, want %q", k, g, w)
		}
	}
	parsed, err := pos.ParsePackageEvent(ev.Body)
	if err != nil {
		t.Fatalf("event body: %v", err)
	}
	if parsed.Key() != "BE11140034/loans/loan-1/pkg-1" || len(parsed.Recipients) != 2 || parsed.Recipients[1].Role != pos.RoleCoBorrower {
		t.Errorf("event %+v", parsed)
	}

	if pr.Partner.Status != http.StatusOK || pr.Partner.URL != e.partner.URL()+"/v1/packages" || len(pr.Partner.Attempts) != 1 {
		t.Errorf("partner %+v", pr.Partner)
	}
	var answer pos.PackageAnswer
	if err := json.Unmarshal(pr.Partner.Body, &answer); err != nil || len(answer.Recipients) != 2 ||
		answer.Recipients[0].PortalURL != "https://portal.example.com/invite/rcp-1" {
		t.Errorf("partner answer %s (%v)", pr.Partner.Body, err)
	}

	// Resent with a changed e-mail: a new event carries it.
	pkg := testPackage()
	pkg["recipients"].([]any)[1].(map[string]any)["email"] = "robert@example.com"
	e.postPackage(pkg, http.StatusOK)
	got = e.partner.Received()
	if len(got) != 2 || !strings.Contains(string(got[1].Body), "robert@example.com") {
		t.Fatalf("resend: %d events", len(got))
	}
}

func TestPOSPackageEventRetries(t *testing.T) {
	e := newEnv(t)
	e.partner.SetAnswer(func(n int, ev sbtest.Message) (int, string) {
		if n == 1 {
			return http.StatusServiceUnavailable, `{"message":"warming up"}`
		}
		return http.StatusOK, validAnswer(ev.Body)
	})
	pr := e.postPackage(testPackage(), http.StatusCreated)
	if len(pr.Partner.Attempts) != 2 || pr.Partner.Attempts[0].Status != 503 || pr.Partner.Attempts[1].Status != 200 || pr.Partner.Status != 200 {
		t.Fatalf("attempts %+v, status %d", pr.Partner.Attempts, pr.Partner.Status)
	}
	got := e.partner.Received()
	if len(got) != 2 || string(got[0].Body) != string(got[1].Body) || got[0].Header.Get("Elli-Signature") != got[1].Header.Get("Elli-Signature") {
		t.Errorf("the retry must resend the same signed event")
	}
}

func TestPOSPackageEventFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		answer   string
		attempts int
		message  string
	}{
		{"4xx is not retried", http.StatusBadRequest, `{"message":"bad signature"}`, 1, "partner refused the event: 400 (not retried)"},
		{"5xx every time", http.StatusInternalServerError, `oops`, 3, "partner did not answer 2xx in 3 tries: last status 500"},
		{"2xx but not an answer", http.StatusOK, `{"recipients":[]}`, 1, "partner answered 200 but not with a package answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.partner.SetAnswer(func(int, sbtest.Message) (int, string) { return tc.status, tc.answer })
			pr := e.postPackage(testPackage(), http.StatusBadGateway)
			if pr.Code != "partner_failed" || !strings.HasPrefix(pr.Message, tc.message) {
				t.Errorf("reply %q %q, want …%s", pr.Code, pr.Message, tc.message)
			}
			if n := len(e.partner.Received()); n != tc.attempts || len(pr.Partner.Attempts) != tc.attempts {
				t.Errorf("partner got %d tries (reported %d), want %d", n, len(pr.Partner.Attempts), tc.attempts)
			}
			if pr.Partner.Status != tc.status || len(pr.Partner.Body) == 0 {
				t.Errorf("partner %+v", pr.Partner)
			}
			// The package is stored all the same: it can be resent.
			if pr.Package.PackageID != "pkg-1" || e.Do(http.MethodGet, "/sandbox/pos/packages/pkg-1", nil).Status != http.StatusOK {
				t.Errorf("package not stored: %+v", pr.Package)
			}
		})
	}

	e := newEnv(t)
	e.partner.Close() // nobody listens
	pr := e.postPackage(testPackage(), http.StatusBadGateway)
	if len(pr.Partner.Attempts) != 3 || pr.Partner.Attempts[2].Error == "" || pr.Partner.Status != 0 {
		t.Errorf("connection refused: %+v", pr.Partner)
	}
}

func TestPOSPackageValidation(t *testing.T) {
	e := newEnv(t)
	pkg := testPackage()
	pkg["packageType"] = "x"
	r0 := pkg["recipients"].([]any)[0].(map[string]any)
	r0["role"] = "cosigner"
	r0["phone"] = "555"
	delete(r0, "email")
	pkg["recipients"].([]any)[1].(map[string]any)["recipientId"] = "rcp-1"
	rep := e.Do(http.MethodPost, "/sandbox/pos/packages", pkg)
	if rep.Status != http.StatusBadRequest {
		t.Fatalf("%d %s", rep.Status, rep.Body)
	}
	sbtest.WantPointers(t, rep.Err(t), "/packageType", "/recipients/0/role", "/recipients/0/phone", "/recipients/0/email", "/recipients/1/recipientId")
	if n := len(e.partner.Received()); n != 0 {
		t.Errorf("an invalid package was sent (%d events)", n)
	}

	e.postPackage(testPackage(), http.StatusCreated)
	other := testPackage()
	other["groupId"] = "loan-2"
	if rep := e.Do(http.MethodPost, "/sandbox/pos/packages", other); rep.Status != http.StatusConflict {
		t.Errorf("same package id under another loan: %d %s", rep.Status, rep.Body)
	}
}
