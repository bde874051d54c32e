package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/epcflow/epcflow/epc"
)

// The state file (Config.StateFile) lets the sandbox carry on after a restart, as the real
// platform would: `epcflow dev` restarts its workflows from Temporal's database, and they
// expect the platform to still know their transactions.
//
// What is saved: transactions (request, response and its history, events, upload slots with
// their grants, lender attachments, webhook records, the partner-call log as bounded in
// memory), products with their entitlements, the service-event mapping, and the live access
// tokens, so a partner's cached token keeps working across a restart. Fault rules and the
// webhook behavior are not: they reset at every start. File bytes go to StateFile+".media",
// one file per resource id, written once; the JSON names them by id.
//
// Webhooks still pending when the state was saved (queued, in flight, or waiting for a retry)
// are queued again by the next New, each copy with a fresh set of tries, so the partner still
// gets them. Links the sandbox handed out (upload locations, resourceRefs) keep the base URL
// they were made with: keep the sandbox on the same address across restarts.
//
// Every write is atomic (temp file, fsync, rename) and 0600: the state holds secrets (the
// lender credentials in requests, upload grants, access tokens, products' own signing keys).

// stateVersion is the version of the state file's format this build writes and reads.
const stateVersion = 1

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
	PartnerCalls        []partnerCall              `json:"partnerCalls"`
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
	webhookRecord
	Settled map[int]string `json:"settled,omitempty"`
	// Body is the webhook as signed, while it is pending: sent again as is after a restart.
	Body string `json:"body,omitempty"`
}

// stateFile saves the state to Config.StateFile.
type stateFile struct {
	path     string
	mediaDir string

	mu      sync.Mutex      // serializes saves; guards the fields below
	written map[string]bool // media ids whose bytes are on disk
	saved   uint64          // Server.changes as of the last successful save
	failing bool            // the last save failed (logged once until one works again)
	onSave  func(changes uint64, err error)
}

// openState loads the state file, if there is one, and starts saving it periodically.
func (s *Server) openState() error {
	p := &stateFile{path: s.cfg.StateFile, mediaDir: s.cfg.StateFile + ".media", written: map[string]bool{}}
	if err := s.loadState(p); err != nil {
		return err
	}
	s.state = p
	s.bg.Add(1)
	go s.saveEvery(s.ctx, s.cfg.StateSaveInterval)
	return nil
}

// saveEvery saves the state every interval when it changed, until ctx ends (Close then makes
// the last save).
func (s *Server) saveEvery(ctx context.Context, interval time.Duration) {
	defer s.bg.Done()
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			_ = s.saveState(false)
		}
	}
}

// saveState writes the state file if anything changed since the last save (always with
// force). A failure is logged, once until a save works again, and returned.
func (s *Server) saveState(force bool) error {
	p := s.state
	p.mu.Lock()
	defer p.mu.Unlock()
	changes := s.changes.Load() // before the snapshot: a change it misses moves the count
	if !force && changes == p.saved {
		return nil
	}
	err := p.write(s)
	switch {
	case err != nil && (!p.failing || force):
		s.log.Error("sandbox: saving the state failed", "file", p.path, "error", err)
	case err == nil && p.failing:
		s.log.Info("sandbox: saving the state works again", "file", p.path)
	}
	p.failing = err != nil
	if err == nil {
		p.saved = changes
	}
	if p.onSave != nil {
		p.onSave(changes, err)
	}
	return err
}

// write saves the media files not yet on disk, then the JSON, so the JSON never names a file
// that is missing. Caller holds p.mu.
func (p *stateFile) write(s *Server) error {
	snap, files, err := s.epc.snapshot(p.written)
	if err != nil {
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	if len(files) > 0 {
		if err := os.MkdirAll(p.mediaDir, 0o700); err != nil {
			return fmt.Errorf("sandbox: save state: %w", err)
		}
		for _, f := range files {
			if err := writeFileAtomic(filepath.Join(p.mediaDir, f.id), f.data); err != nil {
				return fmt.Errorf("sandbox: save state: %w", err)
			}
		}
		syncDir(p.mediaDir)
		for _, f := range files {
			p.written[f.id] = true
		}
	}
	data, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	dir := filepath.Dir(p.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	if err := writeFileAtomic(p.path, append(data, '\n')); err != nil {
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	syncDir(dir)
	return nil
}

// writeFileAtomic replaces path with data: a temp file in the same directory (created 0600:
// the state holds secrets), fsynced, then renamed over path.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// syncDir makes renames in dir durable; best effort (not every platform can sync a directory).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// mediaFile is a file's bytes to write to the media directory.
type mediaFile struct {
	id   string
	data []byte
}

// snapshot captures the state: each transaction consistent under its lock. It returns the
// bytes of files not in written. Transactions are taken before products, so every product a
// transaction names is in the snapshot (a product exists before its first transaction).
func (e *EPC) snapshot(written map[string]bool) (stateSnapshot, []mediaFile, error) {
	snap := stateSnapshot{Version: stateVersion, SavedAt: e.now(), Tokens: map[string]time.Time{}}
	var files []mediaFile
	e.st.mu.RLock()
	txs := slices.Clone(e.st.order)
	e.st.mu.RUnlock()
	for _, t := range txs {
		t.mu.Lock()
		ts := t.snapshot()
		for _, m := range slices.Concat(t.attachments, t.resources) {
			if m.uploaded && !written[m.id] {
				files = append(files, mediaFile{id: m.id, data: m.data}) // never changes once uploaded
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
		ps := productState{Name: p.Name, ID: p.ID, PartnerID: p.PartnerID}
		if p.SigningKey != e.s.cfg.SigningKey {
			ps.SigningKey = p.SigningKey
		}
		p.mu.RLock()
		ps.Entitlements = p.entitlements
		p.mu.RUnlock()
		snap.Products = append(snap.Products, ps)
	}
	snap.Mappings = e.st.mapping()
	now := e.s.now()
	e.tok.mu.RLock()
	for tok, exp := range e.tok.expiry {
		if now.Before(exp) {
			snap.Tokens[tok] = exp
		}
	}
	e.tok.mu.RUnlock()
	return snap, files, nil
}

// snapshot is t as saved. Caller holds t.mu.
func (t *txState) snapshot() txSnapshot {
	ts := txSnapshot{
		ID: t.id, Status: t.status, ClientID: t.clientID, Created: t.created, EntityRef: t.entityRef,
		Product: t.product.Name, Request: t.request, Response: t.response, ResponseHistory: t.responseHistory,
		Events: t.events, PartnerCalls: t.calls, PartnerCallsDropped: t.callsDropped,
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
		ts.Webhooks = append(ts.Webhooks, webhookState{webhookRecord: *rec, Settled: rec.settled, Body: string(rec.body)})
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

// loadState restores the state from p's file, if it exists, and queues again the webhooks
// that were pending. It runs in New, before anything is served.
func (s *Server) loadState(p *stateFile) error {
	data, err := os.ReadFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sandbox: read state file: %w", err)
	}
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return p.corrupt(err)
	}
	switch {
	case head.Version == nil:
		return p.corrupt(errors.New("no version"))
	case *head.Version != stateVersion:
		return fmt.Errorf("sandbox: state file %s has format version %d, this build reads version %d only (move it aside to start with an empty sandbox)",
			p.path, *head.Version, stateVersion)
	}
	var snap stateSnapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return p.corrupt(err)
	}
	e := s.epc
	if err := e.restore(&snap, p); err != nil {
		return p.corrupt(err)
	}
	requeued := e.requeuePending()
	p.removeStrayMedia()
	s.log.Info("sandbox: state loaded", "file", p.path, "transactions", len(snap.Transactions),
		"webhooksRequeued", requeued, "savedAt", snap.SavedAt)
	return nil
}

func (p *stateFile) corrupt(err error) error {
	return fmt.Errorf("sandbox: state file %s is corrupt (move it aside to start with an empty sandbox): %w", p.path, err)
}

// restore fills e's store (as New left it: the default product only) from snap, reading the
// files' bytes from the media directory.
func (e *EPC) restore(snap *stateSnapshot, p *stateFile) error {
	st := e.st
	for i, ps := range snap.Products {
		if ps.Name == "" {
			return fmt.Errorf("products/%d: no name", i)
		}
		key := ps.SigningKey
		if key == "" {
			key = e.s.cfg.SigningKey
		}
		prod := &product{ID: ps.ID, PartnerID: ps.PartnerID, Name: ps.Name, SigningKey: key}
		if prod.ID == "" {
			prod.ID = productID(ps.Name)
		}
		if prod.PartnerID == "" {
			prod.PartnerID = defaultPartnerID
		}
		if len(ps.Entitlements) > 0 {
			if err := prod.setEntitlements(ps.Entitlements); err != nil {
				return fmt.Errorf("product %s: entitlements: %w", quoteShort(ps.Name), err)
			}
		}
		st.products[ps.Name] = prod
	}
	if snap.Mappings != nil {
		st.mappings = snap.Mappings
	}
	now := e.s.now()
	for tok, exp := range snap.Tokens {
		if now.Before(exp) {
			e.tok.expiry[tok] = exp
		}
	}
	for i, raw := range snap.Transactions {
		var ts txSnapshot
		if err := json.Unmarshal(raw, &ts); err != nil {
			return fmt.Errorf("transactions/%d: %w", i, err)
		}
		t, err := e.restoreTx(&ts, p)
		if err != nil {
			return fmt.Errorf("transactions/%d (%s): %w", i, quoteShort(ts.ID), err)
		}
		st.txs[t.id] = t
		st.order = append(st.order, t)
	}
	return nil
}

func (e *EPC) restoreTx(ts *txSnapshot, p *stateFile) (*txState, error) {
	switch {
	case ts.ID == "":
		return nil, errors.New("no id")
	case e.st.txs[ts.ID] != nil:
		return nil, errors.New("id used twice")
	case ts.Status != epc.TransactionPending && ts.Status != epc.TransactionCompleted:
		return nil, fmt.Errorf("unknown status %s", quoteShort(ts.Status))
	case ts.Request == nil:
		return nil, errors.New("no request")
	}
	prod := e.st.products[ts.Product]
	if prod == nil {
		return nil, fmt.Errorf("unknown product %s", quoteShort(ts.Product))
	}
	t := &txState{
		id: ts.ID, status: ts.Status, clientID: ts.ClientID, created: ts.Created, entityRef: ts.EntityRef,
		product: prod, request: ts.Request, response: ts.Response, responseHistory: ts.ResponseHistory,
		events: ts.Events, calls: ts.PartnerCalls, callsDropped: ts.PartnerCallsDropped,
		closedBy: ts.ClosedBy, cancelRequested: ts.CancelRequested,
	}
	_ = json.Unmarshal(t.request["type"], &t.requestType)
	for j, ms := range ts.Attachments {
		m, err := p.restoreMedia(t, ms, true)
		if err != nil {
			return nil, fmt.Errorf("attachments/%d: %w", j, err)
		}
		t.attachments = append(t.attachments, m)
	}
	for j, ms := range ts.Resources {
		m, err := p.restoreMedia(t, ms, false)
		if err != nil {
			return nil, fmt.Errorf("resources/%d: %w", j, err)
		}
		t.resources = append(t.resources, m)
	}
	for _, m := range slices.Concat(t.attachments, t.resources) {
		if e.st.media[m.id] != nil {
			return nil, fmt.Errorf("resource id %s used twice", m.id)
		}
		e.st.media[m.id] = m
	}
	for j, ws := range ts.Webhooks {
		rec := ws.webhookRecord
		rec.settled = ws.Settled
		if rec.Attempts == nil {
			rec.Attempts = []webhookAttempt{}
		}
		if rec.Outcome == outcomePending {
			if ws.Body == "" || rec.Copies < 1 {
				return nil, fmt.Errorf("webhooks/%d: pending without a body or copies", j)
			}
			rec.body = []byte(ws.Body)
		}
		t.webhooks = append(t.webhooks, &rec)
	}
	return t, nil
}

// restoreMedia rebuilds a file of t, reading and checking its bytes if it was uploaded.
func (p *stateFile) restoreMedia(t *txState, ms mediaState, attachment bool) (*mediaItem, error) {
	if !plainID(ms.ID) {
		return nil, fmt.Errorf("invalid resource id %s", quoteShort(ms.ID))
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
	if !m.uploaded {
		return m, nil
	}
	path := filepath.Join(p.mediaDir, m.id)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("resource %s: %w", m.id, err)
	}
	sum := sha256.Sum256(data)
	if len(data) != ms.Size || hex.EncodeToString(sum[:]) != ms.SHA256 {
		return nil, fmt.Errorf("resource %s: %s does not hold the saved bytes (%d bytes, sha256 %s)", m.id, path, ms.Size, ms.SHA256)
	}
	m.data = data
	p.written[m.id] = true
	return m, nil
}

// plainID accepts ids the sandbox makes (UUIDs), which are safe as file names.
func plainID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

// requeuePending queues again every webhook copy that was not settled when the state was
// saved, and returns how many webhooks it queued.
func (e *EPC) requeuePending() int {
	n := 0
	for _, t := range e.st.order {
		t.mu.Lock()
		for _, rec := range t.webhooks {
			if rec.Outcome != outcomePending {
				continue
			}
			var copies []int
			for c := range rec.Copies {
				if _, ok := rec.settled[c]; !ok {
					copies = append(copies, c)
				}
			}
			if len(copies) > 0 && e.s.hooks.requeue(e.delivery(t, rec), copies) > 0 {
				n++
			}
		}
		t.mu.Unlock()
	}
	return n
}

// removeStrayMedia deletes files of the media directory the loaded state does not name: bytes
// written just before a crash, ahead of the JSON that would have named them, and temp files.
func (p *stateFile) removeStrayMedia() {
	entries, err := os.ReadDir(p.mediaDir)
	if err != nil {
		return
	}
	for _, de := range entries {
		if de.Type().IsRegular() && !p.written[de.Name()] {
			_ = os.Remove(filepath.Join(p.mediaDir, de.Name()))
		}
	}
}
