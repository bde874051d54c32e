package api

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/vocab"
)

// TestConformanceWebhooks: every webhook example ICE publishes (epc/testdata/conformance),
// verbatim and signed, is accepted 2xx by the real handler, and reaches the engine as the
// webhook it is; one naming no transaction of ours is accepted and ignored.
func TestConformanceWebhooks(t *testing.T) {
	for _, tc := range []struct {
		file         string
		toEngine     bool
		transaction  string
		resourceType string
	}{
		{"pc-transaction-event-webhook.json", true, "{{TRANSACTION_ID}}", epc.ResourceTransactionEvent},
		{"dc-serviceorder-placed-webhook.json", false, "", "ServiceOrder"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			a := newTestAPI(t)
			body := testkit.Fixture(t, "epc/testdata/conformance/"+tc.file)
			resp := a.webhook(t, body, signingKey)
			if resp.status/100 != 2 {
				t.Fatalf("status %d: %s", resp.status, resp.body)
			}
			calls := a.eng.recorded()
			if !tc.toEngine {
				if len(calls.webhooks) != 0 || resp.json(t)["status"] != "ignored" {
					t.Errorf("a webhook naming no transaction reached the engine: %v, %s", calls.webhooks, resp.body)
				}
				return
			}
			if len(calls.webhooks) != 1 {
				t.Fatalf("engine got %d webhooks, want 1", len(calls.webhooks))
			}
			w := calls.webhooks[0]
			if tx, err := epc.TransactionIDFromWebhook(w); err != nil || tx != tc.transaction || w.Meta.ResourceType != tc.resourceType {
				t.Errorf("engine got %+v (transaction %q, %v)", w, tx, err)
			}
			if resp.json(t)["transactionId"] != tc.transaction {
				t.Errorf("answer %s", resp.body)
			}
		})
	}
}

// TestWebhookSignatureHeadersFromTheVocabulary: the second signature header is the
// vocabulary's; the default one stays ICE's documented Elli-Signature.
func TestWebhookSignatureHeadersFromTheVocabulary(t *testing.T) {
	v, err := vocab.New(map[vocab.Key]string{vocab.WebhookSignatureHeaderAlt: "X-Acme-Signature"})
	if err != nil {
		t.Fatal(err)
	}
	a := newTestAPI(t, func(c *Config) { c.Vocabulary = v })
	body := fixture(t, "webhook-transaction-created.json")
	for header, want := range map[string]int{"X-Acme-Signature": http.StatusAccepted, epc.SignatureHeader: http.StatusAccepted, epc.AltSignatureHeader: http.StatusUnauthorized} {
		resp := a.do(t, http.MethodPost, WebhookPath, bytes.NewReader(body), map[string]string{"Content-Type": "application/json", header: sign(signingKey, body)})
		if resp.status != want {
			t.Errorf("signature in %s: status %d, want %d (%s)", header, resp.status, want, resp.body)
		}
	}
	resp := a.do(t, http.MethodPost, WebhookPath, bytes.NewReader(body), map[string]string{"Content-Type": "application/json"})
	if msg := resp.errorBody(t).Message; !bytes.Contains([]byte(msg), []byte("X-Acme-Signature")) {
		t.Errorf("401 message %q does not name the configured header", msg)
	}
}
