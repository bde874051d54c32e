package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
)

func withStateFile(file string) envOption { return func(c *Config) { c.StateFile = file } }

// watchSaves reports the saves of s's state file; the returned func waits for one that covers
// at least the given change count.
func watchSaves(t *testing.T, s *Server) func(atLeast uint64) {
	t.Helper()
	latest := make(chan uint64, 1)
	s.state.Watch(func(changes uint64, err error) {
		if err != nil {
			t.Errorf("save: %v", err)
			return
		}
		select { // keep only the latest count
		case <-latest:
		default:
		}
		latest <- changes
	})
	return func(atLeast uint64) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case c := <-latest:
				if c >= atLeast {
					return
				}
			case <-timeout:
				t.Fatalf("no save covering change %d within the deadline", atLeast)
			}
		}
	}
}

// decodeAny decodes JSON for comparisons that ignore formatting.
func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func TestStateSurvivesRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "data", "sandbox.json") // its directory does not exist yet
	ctx := context.Background()
	e1 := newEnv(t, withStateFile(file))

	// The lender's set-up: a mapping and a product with a key of its own.
	if rep := e1.Do(http.MethodPut, "/sandbox/epc/service-event-mappings", map[string]any{"EVENT-001": []string{"task"}}); rep.Status != http.StatusOK {
		t.Fatalf("PUT mappings: %d %s", rep.Status, rep.Body)
	}
	floodEnt := map[string]any{"signingKey": "flood-key", "transaction": map[string]any{"Flood": map[string]any{"response": map[string]any{
		"results": []map[string]any{{"action": epc.ActionCreateServiceEvents, "formats": []string{epc.FormatServiceEvents}}}}}}}
	if rep := e1.Do(http.MethodPut, "/sandbox/epc/products/flood/entitlements", floodEnt); rep.Status != http.StatusCreated {
		t.Fatalf("PUT entitlements: %d %s", rep.Status, rep.Body)
	}
	lenderPDF := []byte("%PDF-1.7 purchase contract")
	id := e1.Order(map[string]any{"request": map[string]any{
		"type":        "Appraisal",
		"credentials": map[string]string{"username": "lender-user", "password": "lender-pass"},
		"resources":   []map[string]string{{"name": "contract.pdf", "mimeType": "application/pdf", "content": base64.StdEncoding.EncodeToString(lenderPDF)}},
	}})
	if err := e1.Client.PatchResponse(ctx, id, &epc.Response{Status: epc.StatusProcessing, ReferenceNumber: "REF-1"}); err != nil {
		t.Fatalf("PATCH processing: %v", err)
	}
	report := bytes.Repeat([]byte("%PDF-1.7 appraisal report "), 1000)
	slots, err := e1.Client.CreateResources(ctx, id, []epc.NewResource{{Name: "report.pdf", MimeType: "application/pdf"}})
	if err != nil || len(slots) != 1 {
		t.Fatalf("upload slot: %v %v", slots, err)
	}
	slot := slots[0]
	if err := e1.Client.UploadBytes(ctx, slot, bytes.NewReader(report), int64(len(report))); err != nil {
		t.Fatalf("upload: %v", err)
	}
	if err := e1.Client.PatchResponse(ctx, id, &epc.Response{Resources: []epc.Resource{{ID: slot.ID, Name: slot.Name, MimeType: slot.MimeType}}}); err != nil {
		t.Fatalf("attach: %v", err)
	}
	if _, err := e1.Client.CreateEvent(ctx, id, epc.NewEvent{Text: "Inspection scheduled", Type: "urn:elli:epc:partner:appraisal:scheduled"}); err != nil {
		t.Fatalf("event: %v", err)
	}
	e1.Idle()
	oldToken := e1.Token()
	before := e1.Partner(http.MethodGet, "/partner/v2/transactions/"+id, nil)
	ctlBefore := e1.Control(id)
	if err := e1.srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// The files hold secrets: owner only.
	sum := sha256.Sum256(report)
	for _, f := range []string{file, filepath.Join(file+".media", slot.ID)} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	if raw, _ := os.ReadFile(file); !bytes.HasPrefix(raw, []byte(`{"version":1,`)) {
		t.Errorf("state file starts %.40s, want the version first", raw)
	}

	e2 := newEnv(t, withStateFile(file))
	after := e2.Partner(http.MethodGet, "/partner/v2/transactions/"+id, nil) // a fresh token
	if after.Status != http.StatusOK || !reflect.DeepEqual(decodeAny(t, before.Body), decodeAny(t, after.Body)) {
		t.Fatalf("after the restart: %d %s\nbefore: %s", after.Status, after.Body, before.Body)
	}
	var tx epc.Transaction
	after.JSON(t, &tx)
	if tx.Status != epc.TransactionPending || len(tx.Events) != len(ctlBefore.Events) {
		t.Errorf("transaction %s with %d events, want pending with %d", tx.Status, len(tx.Events), len(ctlBefore.Events))
	}
	if rep := e2.Do(http.MethodGet, "/partner/v2/transactions/"+id+"/request", nil, "Authorization", "Bearer "+oldToken); rep.Status != http.StatusOK ||
		!strings.Contains(string(rep.Body), "lender-pass") {
		t.Errorf("request with a token issued before the restart: %d %s", rep.Status, rep.Body)
	}

	ctl := e2.Control(id)
	if len(ctl.Resources) != 1 || ctl.Resources[0].ID != slot.ID || ctl.Resources[0].SHA256 != hex.EncodeToString(sum[:]) ||
		!ctl.Resources[0].Attached || ctl.Resources[0].Size != len(report) {
		t.Errorf("resources after the restart = %+v", ctl.Resources)
	}
	if !reflect.DeepEqual(ctl.Webhooks, ctlBefore.Webhooks) || !reflect.DeepEqual(ctl.ResponseHistory, ctlBefore.ResponseHistory) {
		t.Errorf("webhooks or response history changed:\n%+v\n%+v", ctl.Webhooks, ctlBefore.Webhooks)
	}
	if len(ctl.PartnerCalls) < len(ctlBefore.PartnerCalls) || ctl.PartnerCalls[0] != ctlBefore.PartnerCalls[0] {
		t.Errorf("partner calls: %d after, %d before", len(ctl.PartnerCalls), len(ctlBefore.PartnerCalls))
	}

	// The bytes are served, by token and by the slot's grant; the slot still takes one file.
	if rep := e2.Partner(http.MethodGet, "/sandbox/media/"+slot.ID, nil); rep.Status != http.StatusOK || !bytes.Equal(rep.Body, report) {
		t.Errorf("GET media: %d, %d bytes", rep.Status, len(rep.Body))
	}
	if rep := e2.Do(http.MethodGet, "/sandbox/media/"+slot.ID, nil, "Authorization", slot.Authorization); rep.Status != http.StatusOK {
		t.Errorf("GET media with the slot's grant: %d", rep.Status)
	}
	if rep := e2.Do(http.MethodPut, "/sandbox/media/"+slot.ID, "x", "Authorization", slot.Authorization, "Content-Type", "application/pdf"); rep.Status != http.StatusConflict {
		t.Errorf("second upload after the restart: %d %s", rep.Status, rep.Body)
	}
	atts, err := e2.Client.ListRequestResources(ctx, id)
	if err != nil || len(atts) != 1 {
		t.Fatalf("attachments: %v %v", atts, err)
	}
	if rep := e2.Partner(http.MethodGet, "/sandbox/media/"+atts[0].ID, nil); !bytes.Equal(rep.Body, lenderPDF) {
		t.Errorf("lender attachment: %d %q", rep.Status, rep.Body)
	}

	// The lender's set-up is still there.
	if rep := e2.Do(http.MethodGet, "/sandbox/epc/service-event-mappings", nil); !reflect.DeepEqual(decodeAny(t, rep.Body), decodeAny(t, []byte(`{"EVENT-001":["task"]}`))) {
		t.Errorf("mappings: %s", rep.Body)
	}
	if rep := e2.Do(http.MethodGet, "/sandbox/epc/products/flood/entitlements", nil); rep.Status != http.StatusOK || !strings.Contains(string(rep.Body), `"Flood"`) {
		t.Errorf("flood entitlements: %d %s", rep.Status, rep.Body)
	}
	e2.Idle()
	e2.Hooks.Drain()
	e2.Order(map[string]any{"request": map[string]any{"type": "Flood"}, "product": map[string]any{"name": "flood"}})
	if h := e2.Hooks.Next(nil); h.Header.Get("Elli-Signature") != sbtest.Signature("flood-key", h.Body) {
		t.Errorf("flood product's own signing key was not kept")
	}

	// And the order carries on to its end.
	if err := e2.Client.PatchResponse(ctx, id, &epc.Response{Status: epc.StatusCompleted}); err != nil {
		t.Fatalf("PATCH completed after the restart: %v", err)
	}
	got, err := e2.Client.GetTransaction(ctx, id)
	if err != nil || got.Status != epc.TransactionCompleted {
		t.Fatalf("after completing: %+v %v", got, err)
	}
}

// TestPendingWebhookSentAfterRestart: a webhook the partner had not taken (503) when the
// sandbox stopped reaches it after the restart, same eventId, same bytes, same signature.
func TestPendingWebhookSentAfterRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sandbox.json")
	e1 := newEnv(t, withStateFile(file), func(c *Config) { c.WebhookRetryInterval = time.Hour })
	partner := e1.Hooks
	partner.SetAnswer(sbtest.Status(http.StatusServiceUnavailable))
	id := e1.Order(nil)
	pending := map[string]sbtest.Message{}
	for range 2 { // the transaction's `created` and its request:created event's
		h := partner.Next(nil)
		pending[h.Webhook().EventID] = h
	}
	if err := e1.srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, wh := range e1.Control(id).Webhooks {
		if wh.Outcome != core.OutcomePending {
			t.Fatalf("webhook %s is %s at Close, want pending", wh.EventID, wh.Outcome)
		}
	}

	partner.SetAnswer(nil) // the partner is back
	e2 := newEnv(t, withStateFile(file), func(c *Config) { c.PartnerURL = partner.URL() })
	for range len(pending) {
		h := partner.Next(nil)
		was, ok := pending[h.Webhook().EventID]
		if !ok {
			t.Fatalf("unexpected webhook %s", h.Body)
		}
		if !bytes.Equal(h.Body, was.Body) || h.Header.Get("Elli-Signature") != was.Header.Get("Elli-Signature") {
			t.Errorf("webhook %s changed across the restart:\n%s\n%s", h.Webhook().EventID, h.Body, was.Body)
		}
		if h.Header.Get("Elli-Signature") != sbtest.Signature(sbtest.SigningKey, h.Body) {
			t.Errorf("webhook %s: bad signature", h.Webhook().EventID)
		}
		delete(pending, h.Webhook().EventID)
	}
	e2.Idle()
	for _, wh := range e2.Control(id).Webhooks {
		if wh.Outcome != core.OutcomeDelivered {
			t.Errorf("webhook %s %s after the restart: %s, attempts %+v", wh.EventType, wh.ResourceType, wh.Outcome, wh.Attempts)
		}
	}
}

// TestStateSavedWhileRunning: without Close (a crash), the next start finds what the periodic
// save wrote.
func TestStateSavedWhileRunning(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sandbox.json")
	e1 := newEnv(t, withStateFile(file), func(c *Config) { c.StateSaveInterval = 5 * time.Millisecond })
	saved := watchSaves(t, e1.srv)
	id := e1.Order(nil)
	if err := e1.Client.PatchResponse(context.Background(), id, &epc.Response{Status: epc.StatusProcessing}); err != nil {
		t.Fatal(err)
	}
	e1.Idle()
	saved(e1.srv.rt.Changes())
	want := e1.Control(id)

	e2 := newEnv(t, withStateFile(file))
	ctl := e2.Control(id)
	if ctl.Status != epc.TransactionPending || len(ctl.ResponseHistory) != 1 || len(ctl.Webhooks) != len(want.Webhooks) {
		t.Fatalf("after the crash: status %s, %d responses, %d webhooks (want %d)", ctl.Status, len(ctl.ResponseHistory), len(ctl.Webhooks), len(want.Webhooks))
	}
	for _, wh := range ctl.Webhooks {
		if wh.Outcome != core.OutcomeDelivered {
			t.Errorf("webhook %s: %s", wh.EventID, wh.Outcome)
		}
	}
}

func TestStateFileErrors(t *testing.T) {
	// A good state with one uploaded file, to damage.
	goodDir := t.TempDir()
	good := filepath.Join(goodDir, "sandbox.json")
	e := newEnv(t, withStateFile(good))
	id := e.Order(nil)
	slot, err := e.Client.UploadResource(context.Background(), id, "r.pdf", "application/pdf", []byte("%PDF"))
	if err != nil {
		t.Fatal(err)
	}
	e.Idle()
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	goodJSON, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		state  string
		damage func(dir string) // applied to a copy of the good state
		want   []string
	}{
		{name: "not JSON", state: `{"version":1,"transactions":[`, want: []string{"is corrupt", "unexpected end of JSON input"}},
		{name: "no version", state: `{"transactions":[]}`, want: []string{"is corrupt", "no version"}},
		{name: "unknown version", state: `{"version":2,"everything":"else"}`, want: []string{"format version 2", "reads version 1 only"}},
		{name: "unknown product", state: `{"version":1,"transactions":[{"id":"t1","status":"pending","product":"nope","request":{"type":"Appraisal"}}]}`,
			want: []string{"is corrupt", `transactions/0 ("t1"): unknown product "nope"`}},
		{name: "slot without grant", state: `{"version":1,"transactions":[{"id":"t1","status":"pending","product":"sandbox-product","request":{"type":"Appraisal"},"resources":[{"id":"r1"}]}]}`,
			want: []string{"is corrupt", "upload slot r1 has no authorization"}},
		{name: "media bytes changed", state: string(goodJSON), damage: func(dir string) {
			if err := os.WriteFile(filepath.Join(dir, "sandbox.json.media", slot.ID), []byte("%PDX"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"is corrupt", filepath.Join("sandbox.json.media", slot.ID) + " does not hold the saved bytes"}},
		{name: "media file missing", state: string(goodJSON), damage: func(dir string) {
			if err := os.Remove(filepath.Join(dir, "sandbox.json.media", slot.ID)); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"is corrupt", "resource " + slot.ID, "no such file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "sandbox.json")
			if err := os.WriteFile(file, []byte(tc.state), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.damage != nil {
				if err := os.CopyFS(filepath.Join(dir, "sandbox.json.media"), os.DirFS(good+".media")); err != nil {
					t.Fatal(err)
				}
				tc.damage(dir)
			}
			s, err := New(Config{StateFile: file})
			if err == nil {
				s.Close()
				t.Fatal("New accepted the state file")
			}
			for _, w := range append(tc.want, file) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if got, _ := os.ReadFile(file); string(got) != tc.state {
				t.Errorf("the state file was overwritten")
			}
		})
	}
}

// TestStateSavesUnderLoad runs saves while clients work, for the race detector, then checks
// that the last save holds all of it.
func TestStateSavesUnderLoad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sandbox.json")
	e1 := newEnv(t, withStateFile(file), func(c *Config) { c.StateSaveInterval = time.Millisecond })
	ctx := context.Background()
	const workers, rounds = 4, 5
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids []string
	)
	done := make(chan struct{})
	go func() { // explicit saves on top of the periodic ones
		for {
			select {
			case <-done:
				return
			default:
				_ = e1.srv.state.Save(true)
			}
		}
	}()
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				id, err := placeOrder(e1)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
				if err := e1.Client.PatchResponse(ctx, id, &epc.Response{Status: epc.StatusProcessing}); err != nil {
					t.Error(err)
				}
				if _, err := e1.Client.UploadResource(ctx, id, "r.pdf", "application/pdf", fmt.Appendf(nil, "%%PDF %d/%d", w, r)); err != nil {
					t.Error(err)
				}
				if _, err := e1.Client.CreateEvent(ctx, id, epc.NewEvent{Text: "progress", Type: "urn:elli:epc:partner:appraisal:scheduled"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	close(done)
	e1.Idle()
	if err := e1.srv.Close(); err != nil {
		t.Fatal(err)
	}

	e2 := newEnv(t, withStateFile(file))
	if len(ids) != workers*rounds {
		t.Fatalf("%d orders placed", len(ids))
	}
	for _, id := range ids {
		ctl := e2.Control(id)
		if len(ctl.ResponseHistory) != 1 || len(ctl.Resources) != 1 || !ctl.Resources[0].Uploaded || len(ctl.Events) != 3 {
			t.Errorf("%s: %d responses, resources %+v, events %v", id, len(ctl.ResponseHistory), ctl.Resources, sbtest.EventTypes(ctl.Events))
		}
	}
}

// placeOrder is env.order for other goroutines than the test's.
func placeOrder(e *env) (string, error) {
	resp, err := e.TS.Client().Post(e.URL+"/sandbox/epc/transactions", "application/json", strings.NewReader(`{"request":{"type":"Appraisal"}}`))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tx struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&tx); err != nil || resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("create transaction: %d %v", resp.StatusCode, err)
	}
	return tx.ID, nil
}

// TestStateFileV1Loads: a state file an earlier build wrote (testdata/state-v1: format
// version 1, three transactions, two products, a mapping, a live token, uploaded files and two
// webhooks still pending) loads, and the sandbox carries on from it.
func TestStateFileV1Loads(t *testing.T) {
	const (
		canceled  = "843df1cd-45a3-45aa-9434-dd1afd5f9961" // cancel requested; an attached upload
		completed = "524c0288-6230-40a6-a8eb-eed62cd3a183" // product flood, completed
		unsent    = "23c5d271-780e-48e0-82f6-5a797e64a0ee" // its two webhooks were pending
		oldToken  = "353GQPP7TVREHZUMF326JWKUDCL6IUPQO5OI6ZVDRMALEY35MLND"
	)
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "state-v1"))); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withStateFile(filepath.Join(dir, "sandbox.json")))

	// The pending webhooks reach the partner, signed with this run's key.
	for range 2 {
		h := e.Hooks.Next(nil)
		if h.Webhook().Meta.InstanceID != DefaultLenderClientID || h.Header.Get("Elli-Signature") != sbtest.Signature(sbtest.SigningKey, h.Body) ||
			(h.Webhook().Meta.ResourceID != unsent && h.Webhook().Meta.ResourceType == epc.ResourceTransaction) {
			t.Errorf("requeued webhook %s", h.Body)
		}
	}
	var list []TransactionSummary
	e.Do(http.MethodGet, "/sandbox/epc/transactions", nil).JSON(t, &list)
	if len(list) != 3 || list[0].ID != canceled || !list[0].CancelRequested || list[1].ID != completed ||
		list[1].Status != epc.TransactionCompleted || list[1].Product != "flood" || list[2].ID != unsent {
		t.Fatalf("transactions %+v", list)
	}
	rep := e.Do(http.MethodGet, "/partner/v2/transactions/"+canceled+"/request", nil, "Authorization", "Bearer "+oldToken)
	if rep.Status != http.StatusOK || !strings.Contains(string(rep.Body), "lender-pass") {
		t.Errorf("request with the saved token: %d %s", rep.Status, rep.Body)
	}
	ctl := e.Control(canceled)
	if len(ctl.Resources) != 2 || !ctl.Resources[0].Uploaded || !ctl.Resources[0].Attached || ctl.Resources[1].Uploaded ||
		len(ctl.ResponseHistory) != 2 || len(ctl.PartnerCalls) != 6 || len(ctl.Webhooks) != 6 {
		t.Errorf("control view %+v", ctl)
	}
	media := e.Partner(http.MethodGet, "/sandbox/media/"+ctl.Resources[0].ID, nil)
	if string(media.Body) != "%PDF-1.7 appraisal report" {
		t.Errorf("uploaded file: %d %q", media.Status, media.Body)
	}
	atts, err := e.Client.ListRequestResources(context.Background(), canceled)
	if err != nil || len(atts) != 1 {
		t.Fatalf("attachments %v %v", atts, err)
	}
	// Links keep the address they were made with (another port here): fetch by path.
	if rep := e.Partner(http.MethodGet, "/sandbox/media/"+atts[0].ID, nil); string(rep.Body) != "%PDF-1.7 purchase contract" {
		t.Errorf("lender attachment: %d %q", rep.Status, rep.Body)
	}
	if rep := e.Do(http.MethodGet, "/sandbox/epc/service-event-mappings", nil); strings.TrimSpace(string(rep.Body)) != `{"EVENT-001":["task"]}` {
		t.Errorf("mappings %s", rep.Body)
	}
	// The flood product kept its own signing key.
	e.Idle()
	e.Hooks.Drain()
	e.Order(map[string]any{"request": map[string]any{"type": "Flood"}, "product": map[string]any{"name": "flood"}})
	if h := e.Hooks.Next(nil); h.Header.Get("Elli-Signature") != sbtest.Signature("flood-key", h.Body) {
		t.Errorf("flood webhook not signed with the product's key")
	}
	e.Idle()
	for _, wh := range e.Control(unsent).Webhooks {
		if wh.Outcome != core.OutcomeDelivered {
			t.Errorf("requeued webhook %s %s: %s", wh.EventType, wh.ResourceType, wh.Outcome)
		}
	}
}
