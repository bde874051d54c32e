package epcemu

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/schemas"
)

// requestKeys are the members a lender's request may have.
var requestKeys = []string{"type", "loanFormat", "loan", "credentials", "requestingParty", "options", "resources"}

// newAttachment is a lender attachment in a control body: {name, mimeType, content (base64)}.
type newAttachment struct {
	name, mimeType string
	data           []byte
}

// checkRequest validates a request (patch: a JSON merge patch of one) and returns the
// attachments it carries.
func checkRequest(obj map[string]json.RawMessage, ptr string, patch bool, ps *core.Problems) []newAttachment {
	core.UnknownKeys(obj, ptr, ps, requestKeys...)
	var atts []newAttachment
	for _, k := range core.SortedKeys(obj) {
		raw, kptr := obj[k], core.Pointer(ptr, k)
		if schemas.JSONKind(raw) == "null" {
			checkNull(k, kptr, patch, ps)
			continue
		}
		switch k {
		case "type", "loanFormat":
			core.StringValue(raw, kptr, ps, true)
		case "loan", "options", "requestingParty":
			core.DecodeObject(raw, kptr, ps)
		case "credentials":
			checkCredentials(raw, kptr, patch, ps)
		case "resources":
			atts = checkAttachments(raw, kptr, ps)
		}
	}
	if _, ok := obj["type"]; !ok && !patch {
		ps.Add(core.Pointer(ptr, "type"), "required: the request type, e.g. \"Appraisal\"")
	}
	return atts
}

// checkNull reports a null member k where it may not be: anywhere in a request, and for the
// members a patch cannot remove.
func checkNull(k, ptr string, patch bool, ps *core.Problems) {
	switch {
	case !patch:
		ps.Add(ptr, "must not be null")
	case k == "type":
		ps.Add(ptr, "cannot be removed: a request always has a type")
	case k == "resources":
		ps.Add(ptr, "lender attachments cannot be removed")
	}
}

func checkCredentials(raw json.RawMessage, ptr string, patch bool, ps *core.Problems) {
	c, ok := core.DecodeObject(raw, ptr, ps)
	if !ok {
		return
	}
	core.UnknownKeys(c, ptr, ps, "username", "password")
	for _, ck := range core.SortedKeys(c) {
		if !(patch && schemas.JSONKind(c[ck]) == "null") {
			core.StringValue(c[ck], core.Pointer(ptr, ck), ps, false)
		}
	}
}

func checkAttachments(raw json.RawMessage, ptr string, ps *core.Problems) []newAttachment {
	items, _ := core.DecodeArray(raw, ptr, "an array of {name, mimeType, content (base64)}", ps)
	var out []newAttachment
	core.EachObject(items, ptr, ps, func(iptr string, obj map[string]json.RawMessage) {
		name, mt := fileMembers(obj, iptr, ps, "name", "mimeType", "content")
		var data []byte
		if rc, ok := obj["content"]; !ok {
			ps.Add(core.Pointer(iptr, "content"), "required: the file's bytes, base64-encoded")
		} else if s, ok := core.StringValue(rc, core.Pointer(iptr, "content"), ps, false); ok {
			var err error
			if data, err = base64.StdEncoding.DecodeString(s); err != nil {
				ps.Add(core.Pointer(iptr, "content"), "not valid base64: %v", err)
			}
		}
		out = append(out, newAttachment{name: name, mimeType: mt, data: data})
	})
	return out
}

// addAttachments stores lender files for t (not yet published, or t.mu held).
func (e *EPC) addAttachments(t *txState, atts []newAttachment, base string) {
	now := e.now()
	items := make([]*mediaItem, 0, len(atts))
	for _, a := range atts {
		id := core.NewUUID()
		sum := sha256.Sum256(a.data)
		items = append(items, &mediaItem{
			tx: t, id: id, name: a.name, mimeType: a.mimeType, attachment: true,
			data: a.data, sha256: hex.EncodeToString(sum[:]), uploaded: true,
			location: base + mediaPath + id, created: now, uploadedAt: now,
		})
	}
	e.st.addMedia(items...)
	t.attachments = append(t.attachments, items...)
}

// mergePatch applies an RFC 7386 merge patch to target.
func mergePatch(target, patch json.RawMessage) json.RawMessage {
	if schemas.JSONKind(patch) != "object" {
		return patch
	}
	var tm map[string]json.RawMessage
	if schemas.JSONKind(target) != "object" || json.Unmarshal(target, &tm) != nil {
		tm = map[string]json.RawMessage{}
	}
	var pm map[string]json.RawMessage
	_ = json.Unmarshal(patch, &pm)
	for k, v := range pm {
		if schemas.JSONKind(v) == "null" {
			delete(tm, k)
		} else {
			tm[k] = mergePatch(tm[k], v)
		}
	}
	out, _ := json.Marshal(tm)
	return out
}

// lenderName is who the lender's events come from. Caller holds t.mu.
func (t *txState) lenderName() string {
	var party epc.Party
	if json.Unmarshal(t.request["requestingParty"], &party) == nil {
		if party.PointOfContact != nil && party.PointOfContact.Name != "" {
			return party.PointOfContact.Name
		}
		if party.Name != "" {
			return party.Name
		}
	}
	return "Lender"
}
