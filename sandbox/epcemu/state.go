package epcemu

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/core"
)

// What the state file keeps (see core.StateFile): transactions (request, response and its
// history, events, upload slots with their grants, lender attachments, webhook records, the
// partner-call log as bounded in memory), products with their entitlements, the service-event
// mapping, and the live access tokens, so a partner's cached token keeps working across a
// restart. Webhooks still pending when the state was saved are queued again by Restore, each
// copy with a fresh set of tries. Links the sandbox handed out (upload locations,
// resourceRefs) keep the base URL they were made with.

// StateVersion is the version of the state file's format this build writes and reads.
const StateVersion = 1

// stateSnapshot is the state file's content.
type stateSnapshot struct {
	Version  int                 `json:"version"`
	SavedAt  time.Time           `json:"savedAt"`
	Products []productState      `json:"products"`
	Mappings map[string][]string `json:"serviceEventMappings"`
	// Tokens maps every live access token to its expiry.
	Tokens       map[string]time.Time `json:"tokens"`
	Transactions []json.RawMessage    `json:"transactions"` // txSnapshot, in creation order
}

type productState struct {
	Name      string `json:"name"`
	ID        string `json:"id"`
	PartnerID string `json:"partnerId"`
	// SigningKey is set only for a product with a key of its own; the others sign with
	// Config.SigningKey of the run, so changing it takes effect.
	SigningKey   string          `json:"signingKey,omitempty"`
	Entitlements json.RawMessage `json:"entitlements,omitempty"`
}

type txSnapshot struct {
	ID                  string                     `json:"id"`
	Status              string                     `json:"status"`
	ClientID            string                     `json:"clientId"`
	Created             time.Time                  `json:"created"`
	EntityRef           epc.EntityRef              `json:"entityRef"`
	Product             string                     `json:"product"` // by name
	Request             map[string]json.RawMessage `json:"request"`
	Attachments         []mediaState               `json:"attachments"`
	Response            map[string]json.RawMessage `json:"response"` // null until the first PATCH
	ResponseHistory     []json.RawMessage          `json:"responseHistory"`
	Events              []epc.Event                `json:"events"`
	Resources           []mediaState               `json:"resources"`
	Webhooks            []webhookState             `json:"webhooks"`
	PartnerCalls        []core.Call                `json:"partnerCalls"`
	PartnerCallsDropped int                        `json:"partnerCallsDropped,omitempty"`
	ClosedBy            string                     `json:"closedBy,omitempty"`
	CancelRequested     bool                       `json:"cancelRequested,omitempty"`
}

// mediaState is a lender attachment or an upload slot; its bytes, if any, are in the media
// directory under its id.
type mediaState struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	MimeType      string    `json:"mimeType"`
	Location      string    `json:"location"`
	Authorization string    `json:"authorization,omitempty"` // upload slots only
	Size          int       `json:"size"`
	SHA256        string    `json:"sha256,omitempty"`
	Uploaded      bool      `json:"uploaded"`
	Attached      bool      `json:"attached,omitempty"`
	Puts          int       `json:"puts,omitempty"`
	Resent        int       `json:"resent,omitempty"`
	Created       time.Time `json:"created"`
	UploadedAt    time.Time `json:"uploadedAt,omitzero"`
}

type webhookState struct {
	WebhookRecord
	Settled map[int]string `json:"settled,omitempty"`
	// Body is the webhook as signed, while it is pending: sent again as is after a restart.
	Body string `json:"body,omitempty"`
}

// Snapshot captures the state, each transaction consistent under its lock, and the bytes of
// files not yet written. Transactions are taken before products, so every product a
// transaction names is in the snapshot (a product exists before its first transaction).
func (e *EPC) Snapshot(written func(id string) bool) (any, []core.MediaFile, error) {
	snap := stateSnapshot{Version: StateVersion, SavedAt: e.now(), Tokens: map[string]time.Time{}}
	var files []core.MediaFile
	for _, t := range e.st.transactions() {
		t.mu.Lock()
		ts := t.snapshot()
		for _, m := range slices.Concat(t.attachments, t.resources) {
			if m.uploaded && !written(m.id) {
				files = append(files, core.MediaFile{ID: m.id, Data: m.data}) // never changes once uploaded
			}
		}
		raw, err := json.Marshal(ts) // under t.mu: it shares t's maps and slices
		t.mu.Unlock()
		if err != nil {
			return snap, nil, fmt.Errorf("transaction %s: %w", t.id, err)
		}
		snap.Transactions = append(snap.Transactions, raw)
	}
	for _, p := range e.st.productList() {
		ps := productState{Name: p.Name, ID: p.ID, PartnerID: p.PartnerID, Entitlements: p.entitlementsRaw()}
		if p.SigningKey != e.cfg.SigningKey {
			ps.SigningKey = p.SigningKey
		}
		snap.Products = append(snap.Products, ps)
	}
	snap.Mappings = e.st.mapping()
	snap.Tokens = e.tok.live()
	return snap, files, nil
}

// entitlementsRaw is the entitlements as PUT, nil if never set.
func (p *product) entitlementsRaw() json.RawMessage {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.entitlements
}

// live returns the tokens not expired, with their expiry.
func (tk *tokens) live() map[string]time.Time {
	now := tk.now()
	out := map[string]time.Time{}
	tk.mu.RLock()
	for tok, exp := range tk.expiry {
		if now.Before(exp) {
			out[tok] = exp
		}
	}
	tk.mu.RUnlock()
	return out
}

// snapshot is t as saved. Caller holds t.mu.
func (t *txState) snapshot() txSnapshot {
	ts := txSnapshot{
		ID: t.id, Status: t.status, ClientID: t.clientID, Created: t.created, EntityRef: t.entityRef,
		Product: t.product.Name, Request: t.request, Response: t.response, ResponseHistory: t.responseHistory,
		Events: t.events, PartnerCalls: t.calls.Calls, PartnerCallsDropped: t.calls.Dropped,
		ClosedBy: t.closedBy, CancelRequested: t.cancelRequested,
		Attachments: []mediaState{}, Resources: []mediaState{}, Webhooks: []webhookState{},
	}
	for _, m := range t.attachments {
		ts.Attachments = append(ts.Attachments, m.state())
	}
	for _, m := range t.resources {
		ts.Resources = append(ts.Resources, m.state())
	}
	for _, rec := range t.webhooks {
		ts.Webhooks = append(ts.Webhooks, webhookState{WebhookRecord: *rec, Settled: rec.settled, Body: string(rec.body)})
	}
	return ts
}

// state is m as saved. Caller holds m.tx.mu.
func (m *mediaItem) state() mediaState {
	return mediaState{
		ID: m.id, Name: m.name, MimeType: m.mimeType, Location: m.location, Authorization: m.authorization,
		Size: len(m.data), SHA256: m.sha256, Uploaded: m.uploaded, Attached: m.attached, Puts: m.puts, Resent: m.resent,
		Created: m.created, UploadedAt: m.uploadedAt,
	}
}

// MediaReader reads the saved bytes of a file, checked against their size and SHA-256.
type MediaReader interface {
	ReadMedia(id string, size int, sum string) ([]byte, error)
}

// Restored summarizes what Restore loaded.
type Restored struct {
	Transactions     int
	WebhooksRequeued int
	SavedAt          time.Time
}

// Restore fills e (as New left it: the default product only) from a state file's bytes,
// reading files' bytes from media, then queues again the webhooks that were pending. It runs
// before anything is served.
func (e *EPC) Restore(data []byte, media MediaReader) (Restored, error) {
	var snap stateSnapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return Restored{}, err
	}
	if err := e.restoreProducts(snap.Products); err != nil {
		return Restored{}, err
	}
	if snap.Mappings != nil {
		e.st.mappings = snap.Mappings
	}
	now := e.rt.Now()
	for tok, exp := range snap.Tokens {
		if now.Before(exp) {
			e.tok.expiry[tok] = exp
		}
	}
	for i, raw := range snap.Transactions {
		var ts txSnapshot
		if err := json.Unmarshal(raw, &ts); err != nil {
			return Restored{}, fmt.Errorf("transactions/%d: %w", i, err)
		}
		t, err := e.restoreTx(&ts, media)
		if err != nil {
			return Restored{}, fmt.Errorf("transactions/%d (%s): %w", i, core.QuoteShort(ts.ID), err)
		}
		e.st.addTx(t)
	}
	return Restored{Transactions: len(snap.Transactions), WebhooksRequeued: e.requeuePending(), SavedAt: snap.SavedAt}, nil
}

func (e *EPC) restoreProducts(products []productState) error {
	for i, ps := range products {
		if ps.Name == "" {
			return fmt.Errorf("products/%d: no name", i)
		}
		prod := &product{
			ID:         cmp.Or(ps.ID, productID(ps.Name)),
			PartnerID:  cmp.Or(ps.PartnerID, defaultPartnerID),
			Name:       ps.Name,
			SigningKey: cmp.Or(ps.SigningKey, e.cfg.SigningKey),
		}
		if len(ps.Entitlements) > 0 {
			if err := prod.setEntitlements(ps.Entitlements); err != nil {
				return fmt.Errorf("product %s: entitlements: %w", core.QuoteShort(ps.Name), err)
			}
		}
		e.st.products[ps.Name] = prod
	}
	return nil
}

func (e *EPC) restoreTx(ts *txSnapshot, media MediaReader) (*txState, error) {
	prod, err := e.checkTx(ts)
	if err != nil {
		return nil, err
	}
	t := &txState{
		id: ts.ID, status: ts.Status, clientID: ts.ClientID, created: ts.Created, entityRef: ts.EntityRef,
		product: prod, request: ts.Request, response: ts.Response, responseHistory: ts.ResponseHistory,
		events: ts.Events, calls: core.CallLog{Calls: ts.PartnerCalls, Dropped: ts.PartnerCallsDropped},
		closedBy: ts.ClosedBy, cancelRequested: ts.CancelRequested, announced: true,
	}
	_ = json.Unmarshal(t.request["type"], &t.requestType)
	if t.attachments, err = restoreMedia(t, ts.Attachments, true, "attachments", media); err != nil {
		return nil, err
	}
	if t.resources, err = restoreMedia(t, ts.Resources, false, "resources", media); err != nil {
		return nil, err
	}
	for _, m := range slices.Concat(t.attachments, t.resources) {
		if e.st.media[m.id] != nil {
			return nil, fmt.Errorf("resource id %s used twice", m.id)
		}
		e.st.media[m.id] = m
	}
	for j, ws := range ts.Webhooks {
		rec := ws.WebhookRecord
		rec.settled = ws.Settled
		if rec.Attempts == nil {
			rec.Attempts = []core.Attempt{}
		}
		if rec.Outcome == core.OutcomePending {
			if ws.Body == "" || rec.Copies < 1 {
				return nil, fmt.Errorf("webhooks/%d: pending without a body or copies", j)
			}
			rec.body = []byte(ws.Body)
		}
		t.webhooks = append(t.webhooks, &rec)
	}
	return t, nil
}

// checkTx checks a saved transaction's identity and returns its product.
func (e *EPC) checkTx(ts *txSnapshot) (*product, error) {
	switch {
	case ts.ID == "":
		return nil, errors.New("no id")
	case e.st.txs[ts.ID] != nil:
		return nil, errors.New("id used twice")
	case ts.Status != epc.TransactionPending && ts.Status != epc.TransactionCompleted:
		return nil, fmt.Errorf("unknown status %s", core.QuoteShort(ts.Status))
	case ts.Request == nil:
		return nil, errors.New("no request")
	}
	prod := e.st.products[ts.Product]
	if prod == nil {
		return nil, fmt.Errorf("unknown product %s", core.QuoteShort(ts.Product))
	}
	return prod, nil
}

// restoreMedia rebuilds the files of t listed under key, reading and checking the bytes of
// those uploaded.
func restoreMedia(t *txState, list []mediaState, attachment bool, key string, media MediaReader) ([]*mediaItem, error) {
	var out []*mediaItem
	for j, ms := range list {
		m, err := restoreFile(t, ms, attachment, media)
		if err != nil {
			return nil, fmt.Errorf("%s/%d: %w", key, j, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func restoreFile(t *txState, ms mediaState, attachment bool, media MediaReader) (*mediaItem, error) {
	if err := core.CheckID(ms.ID); err != nil {
		return nil, err
	}
	if !attachment && ms.Authorization == "" {
		// An empty grant would match a request without Authorization.
		return nil, fmt.Errorf("upload slot %s has no authorization", ms.ID)
	}
	m := &mediaItem{
		tx: t, id: ms.ID, name: ms.Name, mimeType: ms.MimeType, attachment: attachment,
		authorization: ms.Authorization, location: ms.Location, sha256: ms.SHA256,
		uploaded: ms.Uploaded, attached: ms.Attached, puts: ms.Puts, resent: ms.Resent, created: ms.Created, uploadedAt: ms.UploadedAt,
	}
	if m.uploaded {
		data, err := media.ReadMedia(m.id, ms.Size, ms.SHA256)
		if err != nil {
			return nil, err
		}
		m.data = data
	}
	return m, nil
}
