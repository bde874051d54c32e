package sbtest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/core"
)

// The credentials and key the EPC tests configure.
const (
	ClientID     = "sandbox-client"
	ClientSecret = "sandbox-secret"
	SigningKey   = "test-signing-key"
)

// EPC drives a sandbox's EPC emulator as the lender (control API) and the partner (Partner
// API, by raw HTTP or with the epc client), with a fake partner receiving its webhooks.
type EPC struct {
	*Env
	Hooks  *Receiver // the partner's /webhooks/epc
	Client *epc.Client
}

// NewEPC drives env; hooks receives its webhooks.
func NewEPC(env *Env, hooks *Receiver) *EPC {
	env.T.Helper()
	client, err := epc.NewClient(epc.Config{BaseURL: env.URL, ClientID: ClientID, ClientSecret: ClientSecret})
	if err != nil {
		env.T.Fatalf("epc.NewClient: %v", err)
	}
	return &EPC{Env: env, Hooks: hooks, Client: client}
}

// NewHooks is a fake partner's webhook endpoint, answering 200.
func NewHooks(t testing.TB) *Receiver { return NewReceiver(t, "/webhooks/epc", nil) }

// Token fetches an access token by raw HTTP.
func (e *EPC) Token() string {
	e.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/oauth2/v1/token",
		strings.NewReader("grant_type=client_credentials&scope=pc+pcapi&client_id="+url.QueryEscape(ClientID)+"&client_secret="+url.QueryEscape(ClientSecret)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := e.TS.Client().Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	var tok epc.Token
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 {
		e.T.Fatalf("token: status %d, %v", resp.StatusCode, err)
	}
	return tok.AccessToken
}

// Partner sends a raw Partner API request with a fresh bearer token.
func (e *EPC) Partner(method, path string, body any) Reply {
	e.T.Helper()
	return e.Do(method, path, body, "Authorization", "Bearer "+e.Token())
}

// Order places a transaction through the control API (nil body: an Appraisal) and returns
// its id.
func (e *EPC) Order(body any) string {
	e.T.Helper()
	if body == nil {
		body = map[string]any{"request": map[string]any{"type": "Appraisal"}}
	}
	var tx struct{ ID string }
	e.Must(http.StatusCreated, http.MethodPost, "/sandbox/epc/transactions", body).JSON(e.T, &tx)
	return tx.ID
}

// Control reads the control view of a transaction.
func (e *EPC) Control(id string) TxControl {
	e.T.Helper()
	var v TxControl
	e.Must(http.StatusOK, http.MethodGet, "/sandbox/epc/transactions/"+id, nil).JSON(e.T, &v)
	return v
}

// WaitEvent polls the transaction's events (through the client) until one of type typ shows
// up, with a deadline.
func (e *EPC) WaitEvent(id, typ string) epc.Event {
	e.T.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := e.Client.ListEvents(context.Background(), id)
		if err != nil {
			e.T.Fatalf("ListEvents: %v", err)
		}
		for _, ev := range evs {
			if ev.Type == typ {
				return ev
			}
		}
		// Settle background work rather than sleeping.
		e.Idle()
	}
	e.T.Fatalf("no %s event within the deadline", typ)
	return epc.Event{}
}

// TxControl decodes the control view of a transaction as a tool would.
type TxControl struct {
	ID              string            `json:"id"`
	Status          string            `json:"status"`
	Response        json.RawMessage   `json:"response"`
	Events          []epc.Event       `json:"events"`
	CancelRequested bool              `json:"cancelRequested"`
	ResponseHistory []json.RawMessage `json:"responseHistory"`
	Resources       []struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		MimeType string `json:"mimeType"`
		Size     int    `json:"size"`
		SHA256   string `json:"sha256"`
		Uploaded bool   `json:"uploaded"`
		Uploads  int    `json:"uploads"`
		Resent   int    `json:"resent"`
		Attached bool   `json:"attached"`
	} `json:"resources"`
	Webhooks     []WebhookRecord `json:"webhooks"`
	PartnerCalls []core.Call     `json:"partnerCalls"`
}

// WebhookRecord is a webhook as the control view shows it.
type WebhookRecord struct {
	EventID      string `json:"eventId"`
	EventType    string `json:"eventType"`
	ResourceType string `json:"resourceType"`
	ResourceID   string `json:"resourceId"`
	Copies       int    `json:"copies"`
	Attempts     []struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
		Try    int    `json:"try"`
		Target int    `json:"target"`
	} `json:"attempts"`
	Outcome string `json:"outcome"`
}

// Webhook finds the webhook of resourceType and eventType.
func (v TxControl) Webhook(t testing.TB, resourceType, eventType string) WebhookRecord {
	t.Helper()
	for _, wh := range v.Webhooks {
		if wh.ResourceType == resourceType && wh.EventType == eventType {
			return wh
		}
	}
	t.Fatalf("no %s %s webhook in %+v", eventType, resourceType, v.Webhooks)
	return WebhookRecord{}
}

// EventTypes lists the events' types.
func EventTypes(evs []epc.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// Signature is a webhook's Elli-Signature, computed here, independently of epc.Sign.
func Signature(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
