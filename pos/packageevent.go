package pos

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/epcflow/epcflow/schemas"
)

// Names of the POS Framework documents, as *schemas.ValidationError.Schema reports them. The
// bodies are partly [ours] and their rules (uniqueness, one answer per recipient) go beyond
// what a JSON Schema says, so they are checked in Go, here, rather than by an embedded schema.
const (
	PackageEventDocument  = "pos-package-event"
	PackageAnswerDocument = "pos-package-answer"
	CreateSessionDocument = "pos-create-session"
)

// Recipient roles (spec: borrowers, co-borrowers and non-borrowing owners; spelling [ours]).
const (
	RoleBorrower          = "borrower"
	RoleCoBorrower        = "co-borrower"
	RoleNonBorrowingOwner = "non-borrowing-owner"
)

// Bounds [ours]: generous, but a body cannot grow without limit.
const (
	maxIDLength    = 256
	maxNameLength  = 200
	maxEmailLength = 254 // RFC 5321's limit on a forward path
	maxRecipients  = 100
	maxEmailHTML   = 1 << 20
	maxURLLength   = 4096
	// A portal URL carries a packageId and a recipientId, each up to maxIDLength characters
	// of up to 4 bytes, path-escaped then query-escaped (up to 5 characters a byte): 10 KiB
	// for the ids alone, so that every valid event can be answered.
	maxPortalURLLength = 16 << 10
)

// Roles lists the valid recipient roles.
func Roles() []string { return []string{RoleBorrower, RoleCoBorrower, RoleNonBorrowingOwner} }

// PackageEvent is the Create Package Event the platform posts to {partner}/v1/packages, once
// per package in Created status, possibly more than once (see Key).
type PackageEvent struct {
	InstanceID     string      `json:"instanceId"`
	GroupNamespace string      `json:"groupNamespace"` // Encompass uses "loans"
	GroupID        string      `json:"groupId"`        // the loan GUID
	PackageID      string      `json:"packageId"`
	Recipients     []Recipient `json:"recipients"`
}

// Recipient is a person a package is for.
type Recipient struct {
	RecipientID string `json:"recipientId"`
	FirstName   string `json:"firstName"`
	LastName    string `json:"lastName"`
	Email       string `json:"email"`
	Role        string `json:"role"` // one of Roles()
}

// Key is the idempotency key of the event: instanceId, groupNamespace, groupId and packageId,
// each path-escaped and joined by "/", so distinct events never share a key ("a/b" + "c" and
// "a" + "b/c" differ) and the key is safe in a workflow id or a URL path.
func (e PackageEvent) Key() string {
	return url.PathEscape(e.InstanceID) + "/" + url.PathEscape(e.GroupNamespace) + "/" +
		url.PathEscape(e.GroupID) + "/" + url.PathEscape(e.PackageID)
}

// Recipient returns the recipient with id.
func (e PackageEvent) Recipient(id string) (Recipient, bool) {
	for _, r := range e.Recipients {
		if r.RecipientID == id {
			return r, true
		}
	}
	return Recipient{}, false
}

// ParsePackageEvent decodes and validates a Create Package Event body (verify its signature
// first: see Verifier). Every problem is reported at once, each at its JSON pointer, in a
// *schemas.ValidationError (Schema: PackageEventDocument); messages never echo names or
// e-mail addresses. Members it does not know are ignored: the platform may add some.
func ParsePackageEvent(body []byte) (PackageEvent, error) {
	return parseDoc(PackageEventDocument, body, readPackageEvent, PackageEvent.check)
}

func readPackageEvent(d *docCheck, top map[string]json.RawMessage) PackageEvent {
	var ev PackageEvent
	d.packageIDs(top, &ev.InstanceID, &ev.GroupNamespace, &ev.GroupID, &ev.PackageID)
	ev.Recipients = readObjects(d, top, "recipients", func(ptr string, obj map[string]json.RawMessage) Recipient {
		return Recipient{
			RecipientID: d.str(obj, "recipientId", ptr),
			FirstName:   d.str(obj, "firstName", ptr),
			LastName:    d.str(obj, "lastName", ptr),
			Email:       d.str(obj, "email", ptr),
			Role:        d.str(obj, "role", ptr),
		}
	})
	return ev
}

// Validate applies ParsePackageEvent's rules to a value built in Go (a sender's check).
func (e PackageEvent) Validate() error { return checkDoc(PackageEventDocument, e.check) }

// check applies the rules to the decoded values; pointers that already have a problem (a
// member missing or of the wrong type) are skipped.
func (e PackageEvent) check(d *docCheck) {
	d.packageIDsValid(e.InstanceID, e.GroupNamespace, e.GroupID, e.PackageID)
	switch {
	case d.has("/recipients"):
	case len(e.Recipients) == 0:
		d.add("/recipients", "must list at least 1 recipient")
	case len(e.Recipients) > maxRecipients:
		d.add("/recipients", fmt.Sprintf("must list at most %d recipients", maxRecipients))
	}
	first := map[string]int{}
	for i, r := range e.Recipients {
		ptr := "/recipients/" + strconv.Itoa(i)
		if d.has(ptr) {
			continue
		}
		d.recipientID(i, r.RecipientID, first, nil)
		d.name(ptr+"/firstName", r.FirstName)
		d.name(ptr+"/lastName", r.LastName)
		d.email(ptr+"/email", r.Email)
		if d.required(ptr+"/role", r.Role) {
			switch r.Role {
			case RoleBorrower, RoleCoBorrower, RoleNonBorrowingOwner:
			default:
				d.add(ptr+"/role", `must be one of "`+strings.Join(Roles(), `", "`)+`"`)
			}
		}
	}
}

// recipientID checks recipient i's recipientId: a valid id, of the package (when known is
// not nil), and not repeated; first holds the index where each id was first seen.
func (d *docCheck) recipientID(i int, id string, first map[string]int, known func(string) bool) {
	ptr := "/recipients/" + strconv.Itoa(i) + "/recipientId"
	if !d.id(ptr, id) {
		return
	}
	j, dup := first[id]
	switch {
	case known != nil && !known(id):
		d.add(ptr, "not a recipient of the package: "+quoteReceived(id))
	case dup:
		d.add(ptr, fmt.Sprintf("duplicate recipientId (first at /recipients/%d/recipientId)", j))
	default:
		first[id] = i
	}
}

// PackageAnswer is our synchronous answer to a Create Package Event [ours: the platform's
// shape is not public]: for each recipient, the HTML of the e-mail to send and the portal URL
// the person should open.
//
//	{"recipients": [{"recipientId": "…", "emailHtml": "<p>…</p>", "portalUrl": "https://…"}]}
//
// The portal URL may carry an invitation token: treat an answer as a secret (never log it).
type PackageAnswer struct {
	Recipients []RecipientAnswer `json:"recipients"`
}

// RecipientAnswer is the part of a PackageAnswer for one recipient.
type RecipientAnswer struct {
	RecipientID string `json:"recipientId"`
	EmailHTML   string `json:"emailHtml"`
	PortalURL   string `json:"portalUrl"`
}

// ParsePackageAnswer decodes an answer to ev and checks it: exactly one entry per recipient
// of ev (none missing, none unknown, none twice), a non-blank emailHtml and an absolute
// http(s) portalUrl each. Problems come as a *schemas.ValidationError (Schema:
// PackageAnswerDocument); they never echo the HTML or the URL.
func ParsePackageAnswer(ev PackageEvent, body []byte) (PackageAnswer, error) {
	return parseDoc(PackageAnswerDocument, body, readPackageAnswer,
		func(a PackageAnswer, d *docCheck) { a.check(ev, d) })
}

func readPackageAnswer(d *docCheck, top map[string]json.RawMessage) PackageAnswer {
	return PackageAnswer{Recipients: readObjects(d, top, "recipients", func(ptr string, obj map[string]json.RawMessage) RecipientAnswer {
		return RecipientAnswer{
			RecipientID: d.str(obj, "recipientId", ptr),
			EmailHTML:   d.str(obj, "emailHtml", ptr),
			PortalURL:   d.str(obj, "portalUrl", ptr),
		}
	})}
}

// Validate applies ParsePackageAnswer's rules to a value built in Go.
func (a PackageAnswer) Validate(ev PackageEvent) error {
	return checkDoc(PackageAnswerDocument, func(d *docCheck) { a.check(ev, d) })
}

func (a PackageAnswer) check(ev PackageEvent, d *docCheck) {
	seen := map[string]int{}
	for i, ra := range a.Recipients {
		ptr := "/recipients/" + strconv.Itoa(i)
		if d.has(ptr) {
			continue
		}
		d.recipientID(i, ra.RecipientID, seen, func(id string) bool { _, ok := ev.Recipient(id); return ok })
		if d.required(ptr+"/emailHtml", ra.EmailHTML) && len(ra.EmailHTML) > maxEmailHTML {
			d.add(ptr+"/emailHtml", fmt.Sprintf("must be at most %d bytes long", maxEmailHTML))
		}
		if d.required(ptr+"/portalUrl", ra.PortalURL) {
			if err := checkHTTPURL(ra.PortalURL, maxPortalURLLength); err != "" {
				d.add(ptr+"/portalUrl", err)
			}
		}
	}
	if d.has("/recipients") {
		return
	}
	var missing []string
	for _, r := range ev.Recipients {
		if _, ok := seen[r.RecipientID]; !ok {
			missing = append(missing, quoteReceived(r.RecipientID))
		}
	}
	if len(missing) > 0 {
		d.add("/recipients", "no answer for recipientId "+strings.Join(missing, ", "))
	}
}

// checkHTTPURL returns why raw is not an absolute http(s) URL, or "". It never echoes raw.
func checkHTTPURL(raw string, maxLen int) string {
	if len(raw) > maxLen {
		return fmt.Sprintf("must be at most %d characters long", maxLen)
	}
	return httpURLProblem(raw)
}

// docCheck collects the problems of one document, each at its JSON pointer (only one per
// pointer: the first found, which is the most basic).
type docCheck struct {
	doc      string
	problems []schemas.Problem
	at       map[string]bool
}

func newDocCheck(doc string) *docCheck { return &docCheck{doc: doc, at: map[string]bool{}} }

// parseDoc decodes body as the document doc: read takes the members of its root object
// (when it is one), then check applies the rules to what was read. Every problem is
// reported at once; on any, the zero T is returned.
func parseDoc[T any](doc string, body []byte, read func(*docCheck, map[string]json.RawMessage) T, check func(T, *docCheck)) (T, error) {
	var v T
	d := newDocCheck(doc)
	if top, ok := d.root(body); ok {
		v = read(d, top)
	}
	check(v, d)
	if err := d.err(); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// checkDoc applies check to a value built in Go, as the document doc.
func checkDoc(doc string, check func(*docCheck)) error {
	d := newDocCheck(doc)
	check(d)
	return d.err()
}

func (d *docCheck) add(ptr, msg string) {
	if d.at[ptr] {
		return
	}
	d.at[ptr] = true
	d.problems = append(d.problems, schemas.Problem{Pointer: ptr, Message: msg})
}

// has reports whether ptr, or a parent of it, already has a problem.
func (d *docCheck) has(ptr string) bool {
	for p := ptr; ; {
		if d.at[p] {
			return true
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return false
		}
		p = p[:i]
	}
}

func (d *docCheck) err() error {
	if len(d.problems) == 0 {
		return nil
	}
	return &schemas.ValidationError{Schema: d.doc, Problems: d.problems}
}

// root decodes a whole body, which must be one JSON object.
func (d *docCheck) root(body []byte) (map[string]json.RawMessage, bool) {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			d.add("", fmt.Sprintf("invalid JSON at byte offset %d", se.Offset))
		} else {
			d.add("", "invalid JSON")
		}
		return nil, false
	}
	return d.object(body, "")
}

// object decodes raw as a JSON object; anything else is a problem at ptr.
func (d *docCheck) object(raw json.RawMessage, ptr string) (map[string]json.RawMessage, bool) {
	var obj map[string]json.RawMessage
	if kind := schemas.JSONKind(raw); kind != "object" {
		d.add(ptr, "must be an object, got "+kind)
		return nil, false
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		d.add(ptr, "must be a valid JSON object")
		return nil, false
	}
	return obj, true
}

// readObjects reads the required top-level array member key, each item with read; an item
// that is not an object is a problem, and a zero T in its place.
func readObjects[T any](d *docCheck, top map[string]json.RawMessage, key string, read func(ptr string, obj map[string]json.RawMessage) T) []T {
	items, ok := d.array(top, key, "")
	if !ok {
		return nil
	}
	out := make([]T, len(items))
	for i, raw := range items {
		ptr := "/" + escapeToken(key) + "/" + strconv.Itoa(i)
		if obj, ok := d.object(raw, ptr); ok {
			out[i] = read(ptr, obj)
		}
	}
	return out
}

// packageIDs reads the four top-level members that name a package.
func (d *docCheck) packageIDs(top map[string]json.RawMessage, instanceID, groupNamespace, groupID, packageID *string) {
	*instanceID = d.str(top, "instanceId", "")
	*groupNamespace = d.str(top, "groupNamespace", "")
	*groupID = d.str(top, "groupId", "")
	*packageID = d.str(top, "packageId", "")
}

// packageIDsValid checks them as ids.
func (d *docCheck) packageIDsValid(instanceID, groupNamespace, groupID, packageID string) {
	d.id("/instanceId", instanceID)
	d.id("/groupNamespace", groupNamespace)
	d.id("/groupId", groupID)
	d.id("/packageId", packageID)
}

// array decodes the required member key of obj as a JSON array.
func (d *docCheck) array(obj map[string]json.RawMessage, key, parent string) ([]json.RawMessage, bool) {
	ptr := parent + "/" + escapeToken(key)
	raw, ok := obj[key]
	if !ok || schemas.JSONKind(raw) == "null" {
		d.add(ptr, "required")
		return nil, false
	}
	var items []json.RawMessage
	if kind := schemas.JSONKind(raw); kind != "array" || json.Unmarshal(raw, &items) != nil {
		d.add(ptr, "must be an array, got "+kind)
		return nil, false
	}
	return items, true
}

// str decodes member key of obj as a string; a missing (or null) member is "" and is left to
// the rules, a member of another type is a problem here.
func (d *docCheck) str(obj map[string]json.RawMessage, key, parent string) string {
	raw, ok := obj[key]
	if !ok || schemas.JSONKind(raw) == "null" {
		return ""
	}
	var s string
	if kind := schemas.JSONKind(raw); kind != "string" || json.Unmarshal(raw, &s) != nil {
		d.add(parent+"/"+escapeToken(key), "must be a string, got "+kind)
		return ""
	}
	return s
}

// required reports a blank value; true when the value is there and ptr has no problem yet.
func (d *docCheck) required(ptr, s string) bool {
	if d.has(ptr) {
		return false
	}
	switch {
	case s == "":
		d.add(ptr, "required")
	case strings.TrimSpace(s) == "":
		d.add(ptr, "must not be blank")
	default:
		return true
	}
	return false
}

// id checks an identifier: required, bounded, printable.
func (d *docCheck) id(ptr, s string) bool { return d.text(ptr, s, maxIDLength) }

// name checks a person's name: required, bounded, printable.
func (d *docCheck) name(ptr, s string) bool { return d.text(ptr, s, maxNameLength) }

func (d *docCheck) text(ptr, s string, maxLen int) bool {
	if !d.required(ptr, s) {
		return false
	}
	if n := utf8.RuneCountInString(s); n > maxLen {
		d.add(ptr, fmt.Sprintf("must be at most %d characters long", maxLen))
		return false
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		d.add(ptr, "must not contain control characters")
		return false
	}
	return true
}

// email checks a bare e-mail address (no display name, no angle brackets).
func (d *docCheck) email(ptr, s string) {
	if !d.required(ptr, s) {
		return
	}
	if len(s) > maxEmailLength {
		d.add(ptr, fmt.Sprintf("must be at most %d characters long", maxEmailLength))
		return
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		d.add(ptr, "must be an e-mail address such as name@example.com")
	}
}

// escapeToken escapes a JSON pointer token (RFC 6901).
func escapeToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
