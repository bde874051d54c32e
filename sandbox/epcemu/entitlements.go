package epcemu

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/schemas"
)

// setEntitlements replaces the product's entitlements data (already validated).
func (p *product) setEntitlements(data json.RawMessage) error {
	var parsed struct {
		Transaction map[string]struct {
			Response struct {
				Results []resultEntitlement `json:"results"`
			} `json:"response"`
		} `json:"transaction"`
	}
	if err := json.Unmarshal(data, &parsed); err != nil {
		return err
	}
	results := map[string][]resultEntitlement{}
	for reqType, te := range parsed.Transaction {
		results[reqType] = te.Response.Results
	}
	p.mu.Lock()
	p.entitlements = data
	p.results = results
	p.mu.Unlock()
	return nil
}

func (p *product) entitlementData() json.RawMessage {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.entitlements == nil {
		return json.RawMessage(`{}`)
	}
	return p.entitlements
}

// checkEntitled is the 403 unless the product may answer requestType with action in format.
// The request-type key "*" [ours] entitles every request type.
func (p *product) checkEntitled(requestType, action, format string) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var formats []string
	found := false
	for _, key := range []string{requestType, "*"} {
		for _, re := range p.results[key] {
			if re.Action == action {
				found = true
				formats = append(formats, re.Formats...)
			}
		}
	}
	if !found {
		return core.Errorf(http.StatusForbidden, core.CodeForbidden,
			"product %s is not entitled to result action %s for request type %s",
			core.QuoteShort(p.Name), action, core.QuoteShort(requestType))
	}
	if !slices.Contains(formats, format) {
		return core.Errorf(http.StatusForbidden, core.CodeForbidden,
			"product %s is not entitled to format %s for result action %s and request type %s (entitled formats: %v)",
			core.QuoteShort(p.Name), core.QuoteShort(format), action, core.QuoteShort(requestType), formats)
	}
	return nil
}

// parseEntitlements validates a PUT entitlements body: the data object, plus an optional
// top-level signingKey [ours] that is taken out of it.
func parseEntitlements(obj map[string]json.RawMessage) (data json.RawMessage, signingKey string, ps core.Problems) {
	if raw, ok := obj["signingKey"]; ok {
		signingKey, _ = core.StringValue(raw, "/signingKey", &ps, true)
		delete(obj, "signingKey")
	}
	if types, ok := member(obj, "transaction", "", &ps); ok {
		for _, reqType := range core.SortedKeys(types) {
			checkTypeEntitlement(types[reqType], core.Pointer("/transaction", reqType), &ps)
		}
	}
	if se, ok := member(obj, "serviceEvents", "", &ps); ok {
		if rawTypes, ok := se["types"]; ok {
			checkServiceEventTypes(rawTypes, "/serviceEvents/types", &ps)
		}
	}
	data, _ = json.Marshal(obj)
	return data, signingKey, ps
}

// member decodes the object member key of obj, if present.
func member(obj map[string]json.RawMessage, key, ptr string, ps *core.Problems) (map[string]json.RawMessage, bool) {
	raw, ok := obj[key]
	if !ok {
		return nil, false
	}
	return core.DecodeObject(raw, core.Pointer(ptr, key), ps)
}

// checkTypeEntitlement checks one request type's {response: {results: [{action, formats}]}}.
func checkTypeEntitlement(raw json.RawMessage, ptr string, ps *core.Problems) {
	te, ok := core.DecodeObject(raw, ptr, ps)
	if !ok {
		return
	}
	resp, ok := member(te, "response", ptr, ps)
	if !ok {
		return
	}
	rawResults, ok := resp["results"]
	if !ok {
		return
	}
	rptr := core.Pointer(ptr, "response", "results")
	results, _ := core.DecodeArray(rawResults, rptr, "an array of {action, formats}", ps)
	core.EachObject(results, rptr, ps, func(iptr string, r map[string]json.RawMessage) {
		core.UnknownKeys(r, iptr, ps, "action", "formats")
		core.NonEmptyString(r, "action", iptr, ps)
		rawFormats, ok := r["formats"]
		if !ok {
			ps.Add(core.Pointer(iptr, "formats"), "required: the formats the action may use")
			return
		}
		var formats []json.RawMessage
		if schemas.JSONKind(rawFormats) != "array" || json.Unmarshal(rawFormats, &formats) != nil || len(formats) == 0 {
			ps.Add(core.Pointer(iptr, "formats"), "must be a non-empty array of strings")
			return
		}
		for j, f := range formats {
			core.StringValue(f, core.Pointer(iptr, "formats", j), ps, true)
		}
	})
}

func checkServiceEventTypes(raw json.RawMessage, ptr string, ps *core.Problems) {
	types, _ := core.DecodeArray(raw, ptr, "an array of {code, name, senders, type}", ps)
	core.EachObject(types, ptr, ps, func(iptr string, t map[string]json.RawMessage) {
		core.NonEmptyString(t, "code", iptr, ps)
		for _, k := range []string{"name", "type"} {
			if v, ok := t[k]; ok {
				core.StringValue(v, core.Pointer(iptr, k), ps, false)
			}
		}
		if v, ok := t["senders"]; ok && schemas.JSONKind(v) != "array" {
			ps.Add(core.Pointer(iptr, "senders"), "must be an array, got %s", schemas.JSONKind(v))
		}
	})
}
