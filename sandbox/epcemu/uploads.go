package epcemu

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/core"
)

// maxUpload bounds one uploaded file.
const maxUpload = 64 << 20

// The three-step upload (spec "Files"): POST …/response/resources hands out slots, each with
// a location on the sandbox and a one-off authorization; PUT <location> stores the bytes;
// PATCH …/response lists the resource to attach it.

// createResources is POST /partner/v2/transactions/{id}/response/resources.
func (e *EPC) createResources(w http.ResponseWriter, r *http.Request) error {
	t, body, err := e.lookupJSON(r, false)
	if err != nil {
		return err
	}
	wanted, ps := parseNewResources(body)
	if err := core.InvalidIf("invalid resource list", ps); err != nil {
		return err
	}
	base := e.rt.BaseURL(r)
	now := e.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.responseUpdateError("uploads"); err != nil {
		return err
	}
	slots := make([]*mediaItem, 0, len(wanted))
	out := make([]epc.Resource, 0, len(wanted))
	for _, nr := range wanted {
		id := core.NewUUID()
		m := &mediaItem{
			tx:            t,
			id:            id,
			name:          nr.Name,
			mimeType:      nr.MimeType,
			authorization: "elli-signature " + core.RandomHex(64),
			location:      base + mediaPath + id,
			created:       now,
		}
		slots = append(slots, m)
		out = append(out, m.eventResource())
	}
	e.st.addMedia(slots...)
	t.resources = append(t.resources, slots...)
	core.WriteJSON(w, http.StatusCreated, out)
	return nil
}

func parseNewResources(body []byte) ([]epc.NewResource, core.Problems) {
	var ps core.Problems
	items, ok := core.DecodeArray(body, "", "an array of {name, mimeType}", &ps)
	if !ok {
		return nil, ps
	}
	if len(items) == 0 {
		ps.Add("", "must list at least one resource")
		return nil, ps
	}
	out := make([]epc.NewResource, 0, len(items))
	core.EachObject(items, "", &ps, func(ptr string, obj map[string]json.RawMessage) {
		name, mt := fileMembers(obj, ptr, &ps, "name", "mimeType")
		out = append(out, epc.NewResource{Name: name, MimeType: mt})
	})
	return out, ps
}

// fileMembers checks a file's members (allowed are the only ones it may have): a required
// non-blank name and media type.
func fileMembers(obj map[string]json.RawMessage, ptr string, ps *core.Problems, allowed ...string) (name, mimeType string) {
	core.UnknownKeys(obj, ptr, ps, allowed...)
	name, _ = core.NonEmptyString(obj, "name", ptr, ps)
	mt, ok := core.NonEmptyString(obj, "mimeType", ptr, ps)
	if ok && !validMediaType(mt) {
		ps.Add(core.Pointer(ptr, "mimeType"), "not a media type (type/subtype, e.g. application/pdf): %s", core.QuoteShort(mt))
	}
	return name, mt
}

// eventResource is how a file shows in an event: with where and how to download it.
func (m *mediaItem) eventResource() epc.Resource {
	return epc.Resource{ID: m.id, Name: m.name, MimeType: m.mimeType, Location: m.location, Authorization: m.authorization}
}

// putMedia is PUT /sandbox/media/{id}: step 2, the bytes. Authorization must be the slot's
// own, Content-Type its declared mimeType. A slot takes one file: the same bytes again are
// accepted (PUT is idempotent, and a partner whose reply was lost sends them again), other
// bytes are a 409. [ours]
func (e *EPC) putMedia(w http.ResponseWriter, r *http.Request) error {
	m, err := e.uploadSlot(r)
	if err != nil {
		return err
	}
	data, err := core.ReadBody(r, maxUpload, "upload")
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	t := m.tx
	t.mu.Lock()
	defer t.mu.Unlock()
	m.puts++
	switch {
	case m.uploaded && m.sha256 == hex.EncodeToString(sum[:]):
		m.resent++
	case m.uploaded:
		return core.Conflict("upload slot %s already holds other bytes (%d, sha256 %s): a slot takes one file; create a new one",
			m.id, len(m.data), m.sha256)
	default:
		m.data = data
		m.sha256 = hex.EncodeToString(sum[:])
		m.uploaded = true
		m.uploadedAt = e.now()
	}
	t.changed()
	core.WriteJSON(w, http.StatusOK, map[string]any{"id": m.id, "size": len(m.data), "sha256": m.sha256})
	return nil
}

// uploadSlot is the upload slot a PUT names, once its authorization and Content-Type check.
func (e *EPC) uploadSlot(r *http.Request) (*mediaItem, error) {
	id := r.PathValue("id")
	m := e.st.mediaByID(id)
	if m == nil {
		return nil, core.NotFound("no upload slot %s", core.QuoteShort(id))
	}
	if m.attachment {
		err := core.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "resource %s is a lender attachment: read-only", id)
		err.Header = http.Header{"Allow": {http.MethodGet}}
		return nil, err
	}
	// authorization and mimeType are fixed at creation: no lock needed to read them.
	got := r.Header.Get("Authorization")
	switch {
	case got == "":
		return nil, core.Errorf(http.StatusUnauthorized, core.CodeUnauthorized, "Authorization required: the authorization issued with upload slot %s", id)
	case subtle.ConstantTimeCompare([]byte(got), []byte(m.authorization)) != 1:
		return nil, core.Errorf(http.StatusUnauthorized, core.CodeUnauthorized, "Authorization does not match the one issued with upload slot %s", id)
	}
	if ct := r.Header.Get("Content-Type"); !sameMediaType(ct, m.mimeType) {
		return nil, core.Errorf(http.StatusUnsupportedMediaType, core.CodeUnsupportedType,
			"Content-Type %s does not match the declared mimeType %s of upload slot %s", core.QuoteShort(ct), core.QuoteShort(m.mimeType), id)
	}
	return m, nil
}

// getMedia is GET /sandbox/media/{id}: a lender attachment (bearer token) or an uploaded
// response file (bearer token or the slot's authorization, like the platform's signed URLs).
func (e *EPC) getMedia(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	m := e.st.mediaByID(id)
	if m == nil {
		return core.NotFound("resource %s not found", core.QuoteShort(id))
	}
	grant := !m.attachment && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(m.authorization)) == 1
	if !grant {
		if err := e.tok.check(r); err != nil {
			return err
		}
	}
	data, sum, err := m.bytes("PUT them to its location first")
	if err != nil {
		return err
	}
	w.Header().Set("ETag", `"`+sum+`"`)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": m.name}))
	m.serve(w, r, data)
	return nil
}

// bytes returns the file's bytes and their SHA-256, or the 404 for a slot without bytes yet
// (hint says what to do).
func (m *mediaItem) bytes(hint string) ([]byte, string, error) {
	t := m.tx
	t.mu.Lock()
	uploaded, data, sum := m.uploaded, m.data, m.sha256
	t.mu.Unlock()
	if !uploaded {
		if hint != "" {
			hint = ": " + hint
		}
		return nil, "", core.NotFound("resource %s has no bytes yet%s", m.id, hint)
	}
	return data, sum, nil
}

// serve writes the file (its header only for HEAD).
func (m *mediaItem) serve(w http.ResponseWriter, r *http.Request, data []byte) {
	w.Header().Set("Content-Type", m.mimeType)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

// sameMediaType compares media types, ignoring case and parameters.
func sameMediaType(a, b string) bool {
	ma, _, errA := mime.ParseMediaType(a)
	mb, _, errB := mime.ParseMediaType(b)
	if errA != nil || errB != nil {
		return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
	}
	return ma == mb
}

// validMediaType accepts type/subtype with optional parameters.
func validMediaType(s string) bool {
	mt, _, err := mime.ParseMediaType(s)
	if err != nil {
		return false
	}
	typ, sub, ok := strings.Cut(mt, "/")
	return ok && typ != "" && sub != ""
}

// ResourceView is a response resource in the control API.
type ResourceView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	MimeType string `json:"mimeType"`
	Size     int    `json:"size"`
	SHA256   string `json:"sha256,omitempty"`
	Uploaded bool   `json:"uploaded"`
	Uploads  int    `json:"uploads"` // PUTs received with the right authorization
	// Resent counts PUTs of the bytes the slot already held (a partner retrying after a lost
	// reply): accepted, and nothing changed.
	Resent     int        `json:"resent"`
	Attached   bool       `json:"attached"`
	Created    time.Time  `json:"created"`
	UploadedAt *time.Time `json:"uploadedAt,omitempty"`
}

// view renders m for the control API. Caller holds m.tx.mu.
func (m *mediaItem) view() ResourceView {
	v := ResourceView{
		ID: m.id, Name: m.name, MimeType: m.mimeType, Size: len(m.data), SHA256: m.sha256,
		Uploaded: m.uploaded, Uploads: m.puts, Resent: m.resent, Attached: m.attached, Created: m.created,
	}
	if m.uploaded {
		at := m.uploadedAt
		v.UploadedAt = &at
	}
	return v
}
