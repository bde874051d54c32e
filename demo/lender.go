// Package demo drives epcflow from the outside, as people would: a Lender places and changes
// orders through the sandbox's control API, an Operator works them through epcflow's API, and
// Run plays both for `epcflow dev --demo`.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/epcflow/epcflow/sandbox"
)

// Lender talks to the sandbox's lender control API (/sandbox/epc/...).
type Lender struct {
	BaseURL string
	HTTP    *http.Client
}

// NewLender returns a Lender for the sandbox at baseURL.
func NewLender(baseURL string) *Lender {
	return &Lender{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// OrderRequest is the lender's order, as the control API takes it.
type OrderRequest struct {
	Type            string          `json:"type"`
	LoanFormat      string          `json:"loanFormat,omitempty"`
	Loan            json.RawMessage `json:"loan,omitempty"`
	Credentials     map[string]any  `json:"credentials,omitempty"`
	RequestingParty json.RawMessage `json:"requestingParty,omitempty"`
	Options         json.RawMessage `json:"options,omitempty"`
}

// Order is what placing an order returns, and what the sandbox shows of a transaction.
type Order struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// SampleOrder builds an order like seed 002's, of the given type, for the demo account.
func SampleOrder(requestType, loanNumber, street string) OrderRequest {
	loan := map[string]any{"loanNumber": loanNumber, "property": map[string]any{
		"streetAddress": street, "city": "Pleasanton", "state": "CA", "postalCode": "94588", "county": "Alameda",
	}}
	lb, _ := json.Marshal(loan)
	return OrderRequest{
		Type: requestType, LoanFormat: "application/vnd.plm-2.0.0+json", Loan: lb,
		Credentials:     map[string]any{"username": "demo", "password": "demo-password-1"},
		RequestingParty: json.RawMessage(`{"name":"AMG Mortgage","address":"4140 Dublin Blvd. #301","city":"Santa Maria","state":"CA","postalCode":"93458","pointOfContact":{"name":"Donald Duck","role":"Loan Officer","email":"donald@example.com","phone":"666-666-6666"}}`),
	}
}

// PlaceOrder creates a transaction; the sandbox sends the `created` webhook.
func (l *Lender) PlaceOrder(ctx context.Context, req OrderRequest) (Order, error) {
	var o Order
	err := call(ctx, l.HTTP, http.MethodPost, l.BaseURL+"/sandbox/epc/transactions", map[string]any{"request": req}, &o, "")
	return o, err
}

// UpdateRequest merges patch into the order's request; the sandbox sends `updated`.
func (l *Lender) UpdateRequest(ctx context.Context, id string, patch json.RawMessage) error {
	return call(ctx, l.HTTP, http.MethodPatch, l.BaseURL+"/sandbox/epc/transactions/"+url.PathEscape(id)+"/request", patch, nil, "")
}

// Cancel cancels the order.
func (l *Lender) Cancel(ctx context.Context, id, comments string) error {
	return call(ctx, l.HTTP, http.MethodPost, l.BaseURL+"/sandbox/epc/transactions/"+url.PathEscape(id)+"/cancel", map[string]any{"comments": comments}, nil, "")
}

// Transaction returns the sandbox's full view of a transaction (response history, events,
// resources, webhooks, partner calls) as raw JSON.
func (l *Lender) Transaction(ctx context.Context, id string) (json.RawMessage, error) {
	var raw json.RawMessage
	err := call(ctx, l.HTTP, http.MethodGet, l.BaseURL+"/sandbox/epc/transactions/"+url.PathEscape(id), nil, &raw, "")
	return raw, err
}

// HTTPError is a non-2xx answer.
type HTTPError struct {
	Method, URL string
	Status      int
	Body        string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.URL, e.Status, http.StatusText(e.Status), e.Body)
}

func call(ctx context.Context, hc *http.Client, method, u string, in, out any, bearer string) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return do(hc, req, out)
}

func do(hc *http.Client, req *http.Request, out any) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &HTTPError{Method: req.Method, URL: req.URL.Redacted(), Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", req.Method, req.URL.Redacted(), err)
		}
	}
	return nil
}

// Transactions lists every transaction the sandbox holds, oldest first.
func (l *Lender) Transactions(ctx context.Context) ([]sandbox.TransactionSummary, error) {
	var out []sandbox.TransactionSummary
	err := call(ctx, l.HTTP, http.MethodGet, l.BaseURL+"/sandbox/epc/transactions", nil, &out, "")
	return out, err
}

// SetServiceEventMappings replaces the lender's mapping of service event codes to the
// Encompass actions they trigger (e.g. {"FLOOD-DETERMINED": ["task", "notification"]}).
func (l *Lender) SetServiceEventMappings(ctx context.Context, m map[string][]string) error {
	return call(ctx, l.HTTP, http.MethodPut, l.BaseURL+"/sandbox/epc/service-event-mappings", m, nil, "")
}

// SetFaults replaces the sandbox's fault injection; a config without rules turns it off.
func (l *Lender) SetFaults(ctx context.Context, cfg sandbox.FaultConfig) error {
	return call(ctx, l.HTTP, http.MethodPut, l.BaseURL+"/sandbox/faults", cfg, nil, "")
}

// SetWebhookBehavior sets how the sandbox delivers webhooks (copies, shuffling, delay).
func (l *Lender) SetWebhookBehavior(ctx context.Context, b sandbox.WebhookBehavior) error {
	return call(ctx, l.HTTP, http.MethodPut, l.BaseURL+"/sandbox/webhooks/behavior", b, nil, "")
}
