package inbankemu

import (
	"encoding/json"
	"net/http"

	"github.com/epcflow/epcflow/sandbox/internal/core"
)

// controlView is a session as the control API shows it.
type controlView struct {
	sessionView
	ShopUUID    string            `json:"shopUuid"`
	CallbackURL string            `json:"callbackUrl,omitempty"`
	Request     json.RawMessage   `json:"request,omitempty"`
	Callbacks   []*callbackRecord `json:"callbacks"`
}

// controlView renders sess for the control API (full: with the request). Caller holds
// Inbank.mu.
func (sess *session) controlView(full bool) controlView {
	v := controlView{sessionView: sess.view(), ShopUUID: sess.shopUUID, CallbackURL: sess.callbackURL(), Callbacks: sess.callbacks}
	if full {
		v.Request = sess.raw
	}
	if v.Callbacks == nil {
		v.Callbacks = []*callbackRecord{}
	}
	return v
}

// list is GET /sandbox/inbank/sessions.
func (ib *Inbank) list(w http.ResponseWriter, r *http.Request) error {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	out := make([]controlView, 0, len(ib.order))
	for _, sess := range ib.order {
		ib.expireIfDue(sess)
		out = append(out, sess.controlView(false))
	}
	return core.WriteMarshaled(w, out)
}

// control is GET /sandbox/inbank/sessions/{uuid}.
func (ib *Inbank) control(w http.ResponseWriter, r *http.Request) error {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	sess, err := ib.controlled(r)
	if err != nil {
		return err
	}
	// Encoded under the lock: the records change as callbacks are delivered.
	return core.WriteMarshaled(w, sess.controlView(true))
}

// controlled is the session a control route names. Caller holds ib.mu.
func (ib *Inbank) controlled(r *http.Request) (*session, error) {
	sess := ib.lookup(r.PathValue("uuid"))
	if sess == nil {
		return nil, core.NotFound("inbank session %s not found", core.QuoteShort(r.PathValue("uuid")))
	}
	return sess, nil
}

// act is POST /sandbox/inbank/sessions/{uuid}/{action}.
func (ib *Inbank) act(w http.ResponseWriter, r *http.Request) error {
	action := r.PathValue("action")
	if _, ok := actions[action]; !ok {
		return unknownAction(action)
	}
	cb, err := readCallbacks(r)
	if err != nil {
		return err
	}
	ib.mu.Lock()
	defer ib.mu.Unlock()
	sess, err := ib.controlled(r)
	if err != nil {
		return err
	}
	if err := ib.transition(sess, action, cb); err != nil {
		return err
	}
	return core.WriteMarshaled(w, sess.controlView(false))
}

// readCallbacks reads an action's optional body {"callbacks": {...}}.
func readCallbacks(r *http.Request) (Callbacks, error) {
	const what = "invalid action body"
	var cb Callbacks
	obj, err := core.ReadObject(r, true, what)
	if err != nil || obj == nil {
		return cb, err
	}
	var ps core.Problems
	var raw json.RawMessage
	core.DecodeFields(obj, "", &ps, map[string]any{"callbacks": &raw})
	if raw != nil {
		if o, ok := core.DecodeObject(raw, "/callbacks", &ps); ok {
			core.DecodeFields(o, "/callbacks", &ps, map[string]any{"copies": &cb.Copies, "reorder": &cb.Reorder, "skip": &cb.Skip})
		}
	}
	if cb.Copies < 0 || cb.Copies > 10 {
		ps.Add("/callbacks/copies", "must be between 1 and 10 (0 means 1)")
	}
	if cb.Skip && (cb.Copies > 1 || cb.Reorder) {
		ps.Add("/callbacks/skip", "contradicts copies and reorder: skip sends nothing")
	}
	return cb, core.InvalidIf(what, ps)
}
