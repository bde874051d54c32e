package posemu

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/schemas"
)

// packageMembers and recipientMembers are what a control body may hold: the event's shape,
// strictly (a typo is a 400, not an ignored member).
var (
	packageMembers   = []string{"instanceId", "groupNamespace", "groupId", "packageId", "recipients"}
	recipientMembers = []string{"recipientId", "firstName", "lastName", "email", "role"}
)

// postPackage is POST /sandbox/pos/packages.
func (p *Framework) postPackage(w http.ResponseWriter, r *http.Request) error {
	body, err := core.ReadJSON(r, false)
	if err != nil {
		return err
	}
	ev, err := parsePackage(body)
	if err != nil {
		return err
	}
	now := p.now()
	pkg, status, err := p.storePackage(ev, now)
	if err != nil {
		return err
	}
	res := p.sendEvent(r.Context(), ev)
	p.mu.Lock()
	view := pkg.view(now)
	p.mu.Unlock()
	reply := PackageReply{Package: view, Partner: res}
	if res.failure != "" {
		reply.Code, reply.Message = "partner_failed", res.failure
		status = http.StatusBadGateway
	}
	core.WriteJSON(w, status, reply)
	return nil
}

// parsePackage checks a control body: a package event, with no member the event lacks.
func parsePackage(body []byte) (pos.PackageEvent, error) {
	ev, perr := pos.ParsePackageEvent(body)
	ps := core.Problems(schemas.Problems(perr))
	if obj, ok := core.DecodeObject(body, "", new(core.Problems)); ok {
		core.UnknownKeys(obj, "", &ps, packageMembers...)
		var items []json.RawMessage
		if json.Unmarshal(obj["recipients"], &items) == nil {
			for i, raw := range items {
				if robj, ok := core.DecodeObject(raw, "", new(core.Problems)); ok {
					core.UnknownKeys(robj, core.Pointer("/recipients", i), &ps, recipientMembers...)
				}
			}
		}
	}
	return ev, core.InvalidIf("invalid package", ps)
}

// storePackage creates the package of ev, or replaces the event of the one with its id
// (201 or 200); a package of another loan with that id is a 409.
func (p *Framework) storePackage(ev pos.PackageEvent, now time.Time) (*posPackage, int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pkg := p.packages[ev.PackageID]
	status := http.StatusOK
	if pkg == nil {
		status = http.StatusCreated
		pkg = &posPackage{created: now, bindings: map[string]*posBinding{}}
		p.packages[ev.PackageID] = pkg
	} else if wrong := pkg.mismatch(ev.InstanceID, ev.GroupNamespace, ev.GroupID); wrong != "" {
		return nil, 0, core.Conflict("package %s already exists under another loan (%s differ)", core.QuoteShort(ev.PackageID), wrong)
	}
	pkg.event = ev
	pkg.updated = now
	pkg.sent++
	return pkg, status, nil
}

// PackageReply is the answer of POST /sandbox/pos/packages; Code and Message are set (with
// status 502) when the partner did not take the event.
type PackageReply struct {
	Code    string      `json:"code,omitempty"`
	Message string      `json:"message,omitempty"`
	Package packageView `json:"package"`
	Partner Delivery    `json:"partner"`
}

// getPackage is GET /sandbox/pos/packages/{packageId}.
func (p *Framework) getPackage(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("packageId")
	p.mu.Lock()
	pkg := p.packages[id]
	var view packageView
	if pkg != nil {
		view = pkg.view(p.now())
	}
	p.mu.Unlock()
	if pkg == nil {
		return core.NotFound("package %s not found", core.QuoteShort(id))
	}
	core.WriteJSON(w, http.StatusOK, view)
	return nil
}

// packageView is a package as the control API shows it. Sessions never show their token.
type packageView struct {
	InstanceID     string          `json:"instanceId"`
	GroupNamespace string          `json:"groupNamespace"`
	GroupID        string          `json:"groupId"`
	PackageID      string          `json:"packageId"`
	Recipients     []pos.Recipient `json:"recipients"`
	Bindings       []posBinding    `json:"bindings"`
	Sessions       []sessionView   `json:"sessions"`
	EventsSent     int             `json:"eventsSent"`
	Created        time.Time       `json:"created"`
	Updated        time.Time       `json:"updated"`
}

type sessionView struct {
	SessionID   string     `json:"sessionId"`
	RecipientID string     `json:"recipientId"`
	UserID      string     `json:"userId"`
	Created     time.Time  `json:"created"`
	ExpiresAt   time.Time  `json:"expiresAt"`
	State       string     `json:"state"` // unused, used or expired
	UsedAt      *time.Time `json:"usedAt,omitempty"`
}

// Session states in the control view.
const (
	sessionUnused  = "unused"
	sessionUsed    = "used"
	sessionExpired = "expired"
)

// view renders pkg at now. Caller holds Framework.mu.
func (pkg *posPackage) view(now time.Time) packageView {
	v := packageView{
		InstanceID:     pkg.event.InstanceID,
		GroupNamespace: pkg.event.GroupNamespace,
		GroupID:        pkg.event.GroupID,
		PackageID:      pkg.event.PackageID,
		Recipients:     slices.Clone(pkg.event.Recipients),
		Bindings:       []posBinding{},
		Sessions:       []sessionView{},
		EventsSent:     pkg.sent,
		Created:        pkg.created,
		Updated:        pkg.updated,
	}
	for _, id := range core.SortedKeys(pkg.bindings) {
		v.Bindings = append(v.Bindings, *pkg.bindings[id])
	}
	for _, s := range pkg.sessions {
		v.Sessions = append(v.Sessions, s.view(now))
	}
	return v
}

func (s *posSession) view(now time.Time) sessionView {
	sv := sessionView{SessionID: s.id, RecipientID: s.recipientID, UserID: s.userID,
		Created: s.created, ExpiresAt: s.expires, State: sessionUnused}
	switch {
	case !s.used.IsZero():
		used := s.used
		sv.State, sv.UsedAt = sessionUsed, &used
	case !now.Before(s.expires):
		sv.State = sessionExpired
	}
	return sv
}
