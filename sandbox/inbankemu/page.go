package inbankemu

import (
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox/internal/core"
)

// customerPage is the customer's e-POS page. html/template escapes everything it shows.
var customerPage = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Inbank e-POS (sandbox)</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}td{padding:.2em 1em .2em 0}</style></head>
<body>
<h1>Inbank e-POS <small>(epcflow sandbox)</small></h1>
<p>{{.Description}}</p>
<table>
{{range .Assets}}<tr><td>{{.ModelName}}</td><td>{{.NetPrice}} {{$.Currency}}</td></tr>
{{end}}<tr><td>Period</td><td>{{.Period}} months</td></tr>
</table>
<p>Session <code>{{.UUID}}</code> is <strong id="status">{{.Status}}</strong>; valid until {{.ValidUntil}}.</p>
{{if .Open}}<form method="post">
<button name="action" value="complete">Sign the contract</button>
<button name="action" value="cancel">Cancel</button>
<button name="action" value="decline">Decline (as Inbank)</button>
</form>{{end}}
</body></html>
`))

type pageData struct {
	UUID, Status, Description, Currency, ValidUntil string
	Assets                                          []pos.InbankAsset
	Period                                          int
	Open                                            bool
}

// pageData is what the page shows of sess. Caller holds Inbank.mu.
func (sess *session) pageData() pageData {
	return pageData{
		UUID:        sess.uuid,
		Status:      string(sess.status),
		Description: sess.req.Purchase.Description,
		Currency:    sess.req.Currency,
		ValidUntil:  sess.validUntil.Format(time.RFC3339),
		Assets:      sess.req.RentalApplication.Assets,
		Period:      sess.req.RentalApplication.Period,
		Open:        !sess.status.IsFinal(),
	}
}

// page is GET /inbank/pay/{uuid}: where redirectUrl leads the customer.
func (ib *Inbank) page(w http.ResponseWriter, r *http.Request) {
	ib.mu.Lock()
	sess := ib.lookup(r.PathValue("uuid"))
	var d pageData
	if sess != nil {
		d = sess.pageData()
	}
	ib.mu.Unlock()
	if sess == nil {
		http.Error(w, "unknown session", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = customerPage.Execute(w, d)
}

// pageAct is the page's form: the customer signs (grant, then complete), cancels, or Inbank
// declines; then the browser goes back to the partner.
func (ib *Inbank) pageAct(w http.ResponseWriter, r *http.Request) {
	action := r.PostFormValue("action")
	ib.mu.Lock()
	sess := ib.lookup(r.PathValue("uuid"))
	if sess == nil {
		ib.mu.Unlock()
		http.Error(w, "unknown session", http.StatusNotFound)
		return
	}
	err := ib.customerAct(sess, action)
	next := pagePath + sess.uuid
	if u := sess.req.PartnerURLs; err == nil && u != nil {
		next = u.ReturnURL
		if action == "cancel" {
			next = u.CancelURL
		}
	}
	ib.mu.Unlock()
	var ae *core.APIError
	if errors.As(err, &ae) {
		http.Error(w, ae.Message, ae.Status)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// customerAct applies the page's action: signing a pending session grants, then completes.
// Caller holds ib.mu.
func (ib *Inbank) customerAct(sess *session, action string) error {
	switch {
	case action == "complete" && sess.status == pos.StatusPending:
		if err := ib.transition(sess, "grant", Callbacks{}); err != nil {
			return err
		}
		return ib.transition(sess, "complete", Callbacks{})
	case action == "complete" || action == "cancel" || action == "decline":
		return ib.transition(sess, action, Callbacks{})
	}
	return core.Errorf(http.StatusBadRequest, core.CodeInvalidRequest, "action must be complete, cancel or decline")
}
