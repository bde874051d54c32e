package epcemu

import (
	"crypto/sha256"
	"encoding/json"
	"maps"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/core"
)

// store is the EPC emulator's state. Lock order: store.mu, then a txState.mu, then the leaf
// locks (mediaMu, productsMu, product.mu), which are never held while taking another lock.
type store struct {
	mu    sync.RWMutex
	txs   map[string]*txState
	order []*txState // by creation

	mediaMu sync.RWMutex
	media   map[string]*mediaItem

	productsMu sync.RWMutex
	products   map[string]*product
	mappings   map[string][]string // service-event code → lender entity types
}

func newStore() *store {
	return &store{
		txs:      map[string]*txState{},
		media:    map[string]*mediaItem{},
		products: map[string]*product{},
		mappings: map[string][]string{},
	}
}

func (st *store) tx(id string) *txState {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.txs[id]
}

func (st *store) addTx(t *txState) {
	st.mu.Lock()
	st.txs[t.id] = t
	st.order = append(st.order, t)
	st.mu.Unlock()
}

// transactions returns every transaction, in creation order.
func (st *store) transactions() []*txState {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return append([]*txState(nil), st.order...)
}

func (st *store) mediaByID(id string) *mediaItem {
	st.mediaMu.RLock()
	defer st.mediaMu.RUnlock()
	return st.media[id]
}

func (st *store) addMedia(ms ...*mediaItem) {
	st.mediaMu.Lock()
	for _, m := range ms {
		st.media[m.id] = m
	}
	st.mediaMu.Unlock()
}

func (st *store) mapping() map[string][]string {
	st.productsMu.RLock()
	defer st.productsMu.RUnlock()
	return maps.Clone(st.mappings)
}

func (st *store) setMapping(m map[string][]string) {
	st.productsMu.Lock()
	st.mappings = m
	st.productsMu.Unlock()
}

func (st *store) product(name string) *product {
	st.productsMu.RLock()
	defer st.productsMu.RUnlock()
	return st.products[name]
}

// productOrNew returns the product called name, creating it (entitled to nothing, signed with
// signingKey) if it does not exist.
func (st *store) productOrNew(name, signingKey string) (p *product, created bool) {
	st.productsMu.Lock()
	defer st.productsMu.Unlock()
	if p := st.products[name]; p != nil {
		return p, false
	}
	p = &product{ID: productID(name), PartnerID: defaultPartnerID, Name: name, SigningKey: signingKey}
	st.products[name] = p
	return p, true
}

func (st *store) productList() []*product {
	st.productsMu.RLock()
	defer st.productsMu.RUnlock()
	out := make([]*product, 0, len(st.products))
	for _, name := range core.SortedKeys(st.products) {
		out = append(out, st.products[name])
	}
	return out
}

// productID derives a stable id from a product's name, so ids survive restarts: a UUID
// (version 5 layout) made of the name's SHA-256.
func productID(name string) string {
	sum := sha256.Sum256([]byte("epcflow-sandbox-product:" + name))
	var u uuid.UUID
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

// product is a partner product as the platform holds it. ID, PartnerID, Name and SigningKey
// never change; mu guards the entitlements.
type product struct {
	ID         string
	PartnerID  string
	Name       string
	SigningKey string

	mu sync.RWMutex
	// entitlements is the product's entitlements data object, as PUT (signingKey removed).
	entitlements json.RawMessage
	// results is entitlements.transaction[requestType].response.results, parsed.
	results map[string][]resultEntitlement
}

type resultEntitlement struct {
	Action  string   `json:"action"`
	Formats []string `json:"formats"`
}

func (p *product) ref() epc.Product {
	return epc.Product{ID: p.ID, PartnerID: p.PartnerID, Name: p.Name}
}

// txState is one transaction with everything the sandbox recorded about it. All fields are
// guarded by mu.
type txState struct {
	mu sync.Mutex

	id          string
	status      string // pending | completed
	clientID    string
	created     time.Time
	entityRef   epc.EntityRef
	product     *product
	requestType string
	// request holds the request members except resources, which are the attachments.
	request     map[string]json.RawMessage
	attachments []*mediaItem
	// response holds the merged response members; nil until the first PATCH.
	response        map[string]json.RawMessage
	responseHistory []json.RawMessage
	events          []epc.Event
	resources       []*mediaItem // response upload slots, in creation order
	webhooks        []*WebhookRecord
	calls           core.CallLog
	closedBy        string // response status that closed the transaction
	cancelRequested bool
	// announced: the webhooks of the transaction's creation are queued; later ones are
	// withheld under WebhookBehavior.FirstOnly.
	announced bool

	view []byte // cached partner view of the transaction; nil after any change
}

// changed drops cached renderings; call after every mutation.
func (t *txState) changed() { t.view = nil }

func (t *txState) closed() bool { return t.status == epc.TransactionCompleted }

// mediaItem is a stored file: a lender attachment or a partner upload slot. Its fields are
// guarded by its transaction's mu (tx is immutable).
type mediaItem struct {
	tx            *txState
	id            string
	name          string
	mimeType      string
	attachment    bool   // lender attachment (else a response upload slot)
	authorization string // upload slot only
	location      string // where it is served: {PublicURL}/sandbox/media/{id}
	data          []byte
	sha256        string
	uploaded      bool
	attached      bool
	puts          int
	resent        int // PUTs of the bytes already held, accepted again
	created       time.Time
	uploadedAt    time.Time
}
