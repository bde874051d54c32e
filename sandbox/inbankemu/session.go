package inbankemu

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox/internal/core"
)

// session is one POS session. Guarded by Inbank.mu.
type session struct {
	uuid, shopUUID string
	apiKey         string // the shop's key, for signing callbacks
	status         pos.InbankStatus
	req            pos.InbankSessionRequest
	raw            json.RawMessage
	redirectURL    string
	created        time.Time
	updated        time.Time
	validUntil     time.Time
	creditApp      string
	creditContract string

	callbacks []*callbackRecord
	hold      *hold // reordered callbacks not sent yet
}

// sessionView is a session as the Partner API's GET shows it.
type sessionView struct {
	UUID                  string           `json:"uuid"`
	Status                pos.InbankStatus `json:"status"`
	ProductCode           string           `json:"productCode"`
	Currency              string           `json:"currency"`
	ValidUntil            time.Time        `json:"validUntil"`
	RedirectURL           string           `json:"redirectUrl"`
	CreditApplicationUUID string           `json:"creditApplicationUuid,omitempty"`
	CreditContractUUID    string           `json:"creditContractUuid,omitempty"`
	CreatedAt             time.Time        `json:"createdAt"`
	UpdatedAt             time.Time        `json:"updatedAt"`
}

// view renders sess for the partner. Caller holds Inbank.mu.
func (sess *session) view() sessionView {
	return sessionView{
		UUID:                  sess.uuid,
		Status:                sess.status,
		ProductCode:           sess.req.ProductCode,
		Currency:              sess.req.Currency,
		ValidUntil:            sess.validUntil,
		RedirectURL:           sess.redirectURL,
		CreditApplicationUUID: sess.creditApp,
		CreditContractUUID:    sess.creditContract,
		CreatedAt:             sess.created,
		UpdatedAt:             sess.updated,
	}
}

// callbackURL is where the session's callbacks go, "" for none.
func (sess *session) callbackURL() string {
	if sess.req.PartnerURLs == nil {
		return ""
	}
	return sess.req.PartnerURLs.CallbackURL
}

// lookup finds a session for the control routes and the page, noticing its expiry. Caller
// holds ib.mu.
func (ib *Inbank) lookup(id string) *session {
	sess := ib.sessions[strings.ToLower(id)]
	if sess != nil {
		ib.expireIfDue(sess)
	}
	return sess
}

// expireIfDue expires a session still open at validUntil, and sends its callbacks. Caller
// holds ib.mu.
func (ib *Inbank) expireIfDue(sess *session) {
	if sess.status.IsFinal() || ib.rt.Now().Before(sess.validUntil) {
		return
	}
	sess.status = pos.StatusExpired
	sess.updated = sess.validUntil
	ib.rt.Log.Info("inbank session expired", "session", sess.uuid)
	ib.sendCallbacks(sess, Callbacks{})
}

// actions are the control actions: the status each leads to, and from which.
var actions = map[string]struct {
	to   pos.InbankStatus
	from []pos.InbankStatus
}{
	"grant":    {pos.StatusGranted, []pos.InbankStatus{pos.StatusPending}},
	"complete": {pos.StatusCompleted, []pos.InbankStatus{pos.StatusPending, pos.StatusGranted}},
	"cancel":   {pos.StatusCancelled, []pos.InbankStatus{pos.StatusPending, pos.StatusGranted}},
	"decline":  {pos.StatusDeclined, []pos.InbankStatus{pos.StatusPending, pos.StatusGranted}},
}

func unknownAction(action string) error {
	return core.NotFound("unknown action %s: grant, complete, cancel or decline", core.QuoteShort(action))
}

// transition applies action to sess and sends its callbacks. Caller holds ib.mu.
func (ib *Inbank) transition(sess *session, action string, cb Callbacks) error {
	a, ok := actions[action]
	if !ok {
		return unknownAction(action)
	}
	ib.expireIfDue(sess)
	if !slices.Contains(a.from, sess.status) {
		return core.Conflict("session %s is %s: cannot %s it", sess.uuid, sess.status, action)
	}
	sess.status = a.to
	sess.updated = ib.rt.Now().UTC()
	switch a.to {
	case pos.StatusGranted, pos.StatusCompleted:
		sess.creditApp = orNewUUID(sess.creditApp)
		sess.creditContract = orNewUUID(sess.creditContract)
	case pos.StatusDeclined:
		sess.creditApp = orNewUUID(sess.creditApp) // the application Inbank denied
	}
	ib.rt.Log.Info("inbank session "+string(a.to), "session", sess.uuid)
	ib.sendCallbacks(sess, cb)
	return nil
}

// orNewUUID is id, or a new UUID if id is empty.
func orNewUUID(id string) string {
	if id == "" {
		return core.NewUUID()
	}
	return id
}
