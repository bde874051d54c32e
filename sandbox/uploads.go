package sandbox

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/schemas"
)

// maxUpload bounds one uploaded file.
const maxUpload = 64 << 20

// The three-step upload (spec "Files"): POST …/response/resources hands out slots, each with
// a location on the sandbox and a one-off authorization; PUT <location> stores the bytes;
// PATCH …/response lists the resource to attach it.

// createResources is POST /partner/v2/transactions/{id}/response/resources.
func (e *EPC) createResources(w http.ResponseWriter, r *http.Request) error {
	t, err := e.lookup(r)
	if err != nil {
		return err
	}
	body, err := readJSON(r, false)
	if err != nil {
		return err
	}
	wanted, ps := parseNewResources(body)
	if len(ps) > 0 {
		return invalid("invalid resource list", ps)
	}
	base := e.s.baseURL(r)
	now := e.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.responseUpdateError("uploads"); err != nil {
		return err
	}
	slots := make([]*mediaItem, 0, len(wanted))
	out := make([]epc.Resource, 0, len(wanted))
	for _, nr := range wanted {
		id := newUUID()
		m := &mediaItem{
			tx:            t,
			id:            id,
			name:          nr.Name,
			mimeType:      nr.MimeType,
			authorization: "elli-signature " + randomHex(64),
			location:      base + mediaPath + id,
			created:       now,
		}
		slots = append(slots, m)
		out = append(out, epc.Resource{ID: id, Name: m.name, MimeType: m.mimeType, Location: m.location, Authorization: m.authorization})
	}
	e.st.addMedia(slots...)
	t.resources = append(t.resources, slots...)
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func parseNewResources(body []byte) ([]epc.NewResource, problems) {
	var ps problems
	var items []json.RawMessage
	if schemas.JSONKind(body) != "array" || json.Unmarshal(body, &items) != nil {
		ps.add("", "must be an array of {name, mimeType}, got %s", schemas.JSONKind(body))
		return nil, ps
	}
	if len(items) == 0 {
		ps.add("", "must list at least one resource")
		return nil, ps
	}
	out := make([]epc.NewResource, 0, len(items))
	for i, raw := range items {
		ptr := pointer("", i)
		obj, ok := decodeObject(raw, ptr, &ps)
		if !ok {
			continue
		}
		unknownKeys(obj, ptr, &ps, "name", "mimeType")
		name, _ := nonEmptyString(obj, "name", ptr, &ps)
		mt, ok := nonEmptyString(obj, "mimeType", ptr, &ps)
		if ok && !validMediaType(mt) {
			ps.add(pointer(ptr, "mimeType"), "not a media type (type/subtype, e.g. application/pdf): %s", quoteShort(mt))
		}
		out = append(out, epc.NewResource{Name: name, MimeType: mt})
	}
	return out, ps
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
	id := r.PathValue("id")
	m := e.st.mediaByID(id)
	if m == nil {
		return notFound("no upload slot %s", quoteShort(id))
	}
	if m.attachment {
		w.Header().Set("Allow", http.MethodGet)
		return errorf(http.StatusMethodNotAllowed, "method_not_allowed", "resource %s is a lender attachment: read-only", id)
	}
	// authorization and mimeType are fixed at creation: no lock needed to read them.
	got := r.Header.Get("Authorization")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(m.authorization)) != 1 {
		if got == "" {
			return errorf(http.StatusUnauthorized, codeUnauthorized, "Authorization required: the authorization issued with upload slot %s", id)
		}
		return errorf(http.StatusUnauthorized, codeUnauthorized, "Authorization does not match the one issued with upload slot %s", id)
	}
	if ct := r.Header.Get("Content-Type"); !sameMediaType(ct, m.mimeType) {
		return errorf(http.StatusUnsupportedMediaType, codeUnsupportedType,
			"Content-Type %s does not match the declared mimeType %s of upload slot %s", quoteShort(ct), quoteShort(m.mimeType), id)
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxUpload))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "upload over %d bytes", maxUpload)
		}
		return errorf(http.StatusBadRequest, codeInvalidRequest, "read body: %v", err)
	}
	sum := sha256.Sum256(data)
	t := m.tx
	t.mu.Lock()
	defer t.mu.Unlock()
	m.puts++
	if m.uploaded && m.sha256 == hex.EncodeToString(sum[:]) {
		m.resent++
		t.changed()
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "size": len(m.data), "sha256": m.sha256})
		return nil
	}
	if m.uploaded {
		return conflict("upload slot %s already holds other bytes (%d, sha256 %s): a slot takes one file; create a new one",
			id, len(m.data), m.sha256)
	}
	m.data = data
	m.sha256 = hex.EncodeToString(sum[:])
	m.uploaded = true
	m.uploadedAt = e.now()
	t.changed()
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "size": len(data), "sha256": m.sha256})
	return nil
}

// getMedia is GET /sandbox/media/{id}: a lender attachment (bearer token) or an uploaded
// response file (bearer token or the slot's authorization, like the platform's signed URLs).
func (e *EPC) getMedia(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	m := e.st.mediaByID(id)
	if m == nil {
		return notFound("resource %s not found", quoteShort(id))
	}
	grant := !m.attachment && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(m.authorization)) == 1
	if !grant {
		if err := e.tok.check(r); err != nil {
			return err
		}
	}
	t := m.tx
	t.mu.Lock()
	uploaded, data, sum := m.uploaded, m.data, m.sha256
	t.mu.Unlock()
	if !uploaded {
		return notFound("resource %s has no bytes yet: PUT them to its location first", id)
	}
	w.Header().Set("Content-Type", m.mimeType)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("ETag", `"`+sum+`"`)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": m.name}))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
	return nil
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

// resourceView is a response resource in the control API.
type resourceView struct {
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
func (m *mediaItem) view() resourceView {
	v := resourceView{
		ID: m.id, Name: m.name, MimeType: m.mimeType, Size: len(m.data), SHA256: m.sha256,
		Uploaded: m.uploaded, Uploads: m.puts, Resent: m.resent, Attached: m.attached, Created: m.created,
	}
	if m.uploaded {
		at := m.uploadedAt
		v.UploadedAt = &at
	}
	return v
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
