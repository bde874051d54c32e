package posemu

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
)

// validAnswer is a pos.PackageAnswer for every recipient of an event body.
func validAnswer(body []byte) string {
	var ev pos.PackageEvent
	_ = json.Unmarshal(body, &ev)
	var a pos.PackageAnswer
	for _, r := range ev.Recipients {
		a.Recipients = append(a.Recipients, pos.RecipientAnswer{
			RecipientID: r.RecipientID,
			EmailHTML:   "<p>Hello " + r.FirstName + "</p>",
			PortalURL:   "https://portal.example.com/invite/" + r.RecipientID,
		})
	}
	b, _ := json.Marshal(a)
	return string(b)
}

// env is a POS Framework emulator served over real HTTP, the partner's package-event
// endpoint, and a Delivery Room client signing as the partner.
type env struct {
	*sbtest.Env
	partner *sbtest.Receiver
	client  *pos.DeliveryRoomClient
}

// newEnv serves the emulator; opts adjust the runtime's options.
func newEnv(t *testing.T, opts ...func(*core.Options)) *env {
	t.Helper()
	partner := sbtest.NewReceiver(t, "/v1/packages", func(_ int, m sbtest.Message) (int, string) {
		return http.StatusOK, validAnswer(m.Body)
	})
	clock := sbtest.NewClock()
	rt := sbtest.Runtime(t, clock, opts...)
	if _, err := New(rt, Config{PartnerURL: partner.URL()}); err != nil {
		t.Fatal(err)
	}
	e := sbtest.ServeRuntime(t, rt, clock)
	signer, err := pos.NewSigner("", DefaultSubscriptionID, DefaultSigningKeyID, DefaultSigningSecret)
	if err != nil {
		t.Fatal(err)
	}
	return &env{Env: e, partner: partner, client: &pos.DeliveryRoomClient{BaseURL: e.URL, Signer: signer, HTTPClient: e.TS.Client()}}
}

func testPackage() map[string]any {
	return map[string]any{
		"instanceId": "BE11140034", "groupNamespace": "loans", "groupId": "loan-1", "packageId": "pkg-1",
		"recipients": []any{
			map[string]any{"recipientId": "rcp-1", "firstName": "Alice", "lastName": "Firstimer", "email": "alice@example.com", "role": "borrower"},
			map[string]any{"recipientId": "rcp-2", "firstName": "Bob", "lastName": "Firstimer", "email": "bob@example.com", "role": "co-borrower"},
		},
	}
}

// controlReply decodes POST /sandbox/pos/packages's answer as a tool would.
type controlReply struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Package struct {
		PackageID  string          `json:"packageId"`
		Recipients []pos.Recipient `json:"recipients"`
		Bindings   []struct {
			RecipientID string `json:"recipientId"`
			UserID      string `json:"userId"`
		} `json:"bindings"`
		Sessions []struct {
			SessionID   string `json:"sessionId"`
			RecipientID string `json:"recipientId"`
			UserID      string `json:"userId"`
			State       string `json:"state"`
		} `json:"sessions"`
		EventsSent int `json:"eventsSent"`
	} `json:"package"`
	Partner struct {
		URL      string          `json:"url"`
		Status   int             `json:"status"`
		Body     json.RawMessage `json:"body"`
		Attempts []struct {
			Try    int    `json:"try"`
			Status int    `json:"status"`
			Error  string `json:"error"`
		} `json:"attempts"`
		Problems []struct{ Pointer, Message string } `json:"problems"`
	} `json:"partner"`
}

func (e *env) postPackage(body any, wantStatus int) controlReply {
	e.T.Helper()
	rep := e.Do(http.MethodPost, "/sandbox/pos/packages", body)
	if rep.Status != wantStatus {
		e.T.Fatalf("POST /sandbox/pos/packages: %d %s, want %d", rep.Status, rep.Body, wantStatus)
	}
	var pr controlReply
	rep.JSON(e.T, &pr)
	return pr
}

func (e *env) session(recipientID, userID string) (pos.Session, error) {
	return e.client.CreateSession(context.Background(), pos.CreateSessionRequest{
		InstanceID: "BE11140034", GroupNamespace: "loans", GroupID: "loan-1", PackageID: "pkg-1",
		RecipientID: recipientID, UserID: userID,
	})
}

func (e *env) mustSession(recipientID, userID string) pos.Session {
	e.T.Helper()
	s, err := e.session(recipientID, userID)
	if err != nil {
		e.T.Fatalf("CreateSession(%s, %s): %v", recipientID, userID, err)
	}
	return s
}

func wantAPIStatus(t *testing.T, err error, status int, msgPart string) *pos.APIError {
	t.Helper()
	var ae *pos.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T), want *pos.APIError %d", err, err, status)
	}
	if ae.Status != status || !strings.Contains(ae.Message, msgPart) {
		t.Fatalf("got %d %q, want %d …%s…", ae.Status, ae.Message, status, msgPart)
	}
	return ae
}
