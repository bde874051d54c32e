package pos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/epcflow/epcflow/schemas"
)

// ValidateSessionRequest checks a create-session body (seed 001) against the
// schemas.InbankPOSSession JSON Schema and the rules a schema cannot say:
//
//   - the first asset is the hero device: it must be MODEL_BASED, have a modelId and a
//     netPrice above 0;
//   - any other MODEL_BASED asset needs a modelId;
//   - a CATEGORY_BASED asset (the default type) needs a categoryCode;
//   - categoryCode copying_fee is for Latvia only. The body does not name the shop's country,
//     so the locale's country part stands for it: copying_fee needs a locale "xx-LV";
//   - the period is written as a whole number (24, not 24.0 or 2.4e1), which every decoder
//     takes as an integer.
//
// Amounts (a decimal with at most two places, within [ours] bounds) and the period's range
// are the schema's (definitions amount, period).
//
// It returns nil, or a *schemas.ValidationError listing every problem at once, each with the
// JSON pointer of the member at fault (a missing member: its object's pointer, or the member's
// own pointer for a rule above), sorted by pointer. The Inbank client and the sandbox both
// call it, so they cannot disagree.
func ValidateSessionRequest(body []byte) error {
	err := schemas.Default().Validate(schemas.InbankPOSSession, body)
	ps := schemas.Problems(err)
	if err != nil && ps == nil {
		return err // not a validation failure (unknown schema: a build problem)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil {
		return err // malformed JSON: the schema error already says where
	}
	ps = append(ps, sessionRules(doc)...)
	return schemas.NewValidationError(schemas.InbankPOSSession, ps)
}

// ParseSessionRequest validates body (ValidateSessionRequest) and decodes it.
func ParseSessionRequest(body []byte) (InbankSessionRequest, error) {
	var req InbankSessionRequest
	if err := ValidateSessionRequest(body); err != nil {
		return req, err
	}
	if err := json.Unmarshal(body, &req); err != nil {
		// Not expected once the schema passed; reported at the root all the same.
		return req, schemas.NewValidationError(schemas.InbankPOSSession,
			[]schemas.Problem{{Pointer: "", Message: "cannot decode: " + err.Error()}})
	}
	return req, nil
}

// Validate checks r as CreateSession would send it.
func (r InbankSessionRequest) Validate() error {
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("pos: encode session request: %w", err)
	}
	return ValidateSessionRequest(body)
}

const inbankAssetsPointer = "/rentalApplicationData/assets"

// MaxPeriodMonths is the longest Smart Rent period taken, in months ([ours]: seed 001 gives
// no bound; the schema's definition period says the same).
const MaxPeriodMonths = 120

// sessionRules applies the cross-field rules to a decoded body. Members of the wrong JSON
// type are skipped: the schema reports them.
func sessionRules(doc any) []schemas.Problem {
	root, _ := doc.(map[string]any)
	rental, _ := root["rentalApplicationData"].(map[string]any)
	assets, _ := rental["assets"].([]any)
	country := "" // the locale's country, when the locale is well formed
	if loc, ok := root["locale"].(string); ok && inbankLocaleOK(loc) {
		country = loc[3:]
	}
	var ps []schemas.Problem
	if n, ok := rental["period"].(json.Number); ok && strings.ContainsAny(n.String(), ".eE") {
		if f, err := n.Float64(); err == nil && f == math.Trunc(f) && f >= 1 && f <= MaxPeriodMonths {
			// In range, so the schema took it: say why it is refused all the same.
			ps = append(ps, schemas.Problem{Pointer: "/rentalApplicationData/period", Message: "must be a whole number of months written without a fraction or exponent, such as 24"})
		}
	}
	for i, a := range assets {
		if asset, ok := a.(map[string]any); ok {
			assetRules(i, asset, country, func(member, msg string) {
				ps = append(ps, schemas.Problem{Pointer: inbankAssetsPointer + "/" + strconv.Itoa(i) + "/" + member, Message: msg})
			})
		}
	}
	return ps
}

// assetRules applies the rules to asset i, reporting each problem with add.
func assetRules(i int, asset map[string]any, country string, add func(member, msg string)) {
	typ, typeSent := asset["type"]
	t, _ := typ.(string)
	defaulted := ""
	if !typeSent {
		t, defaulted = AssetCategoryBased, " (type defaults to CATEGORY_BASED)"
	}
	_, hasModelID := asset["modelId"]
	_, hasCategory := asset["categoryCode"]
	switch {
	case i == 0:
		if t != AssetModelBased && (!typeSent || t == AssetCategoryBased) {
			add("type", "the hero device (first asset) must be MODEL_BASED"+defaulted)
		}
		if !hasModelID {
			add("modelId", "required: the hero device (first asset) needs a modelId")
		}
		if p, ok := asset["netPrice"].(json.Number); ok {
			if f, err := p.Float64(); err == nil && f == 0 {
				add("netPrice", "the hero device (first asset) must have a netPrice above 0")
			}
		}
	case t == AssetModelBased && !hasModelID:
		add("modelId", "required for a MODEL_BASED asset")
	case t == AssetCategoryBased && !hasCategory:
		add("categoryCode", "required for a CATEGORY_BASED asset"+defaulted)
	}
	if code, _ := asset["categoryCode"].(string); code == CategoryCopyingFee && country != "" && country != "LV" {
		add("categoryCode", `"copying_fee" is applicable only in Latvia (locale xx-LV)`)
	}
}

// inbankLocaleOK reports whether s has the xx-XX form the schema requires.
func inbankLocaleOK(s string) bool {
	if len(s) != 5 || s[2] != '-' {
		return false
	}
	for i, c := range []byte(s) {
		switch {
		case i < 2 && c >= 'a' && c <= 'z', i > 2 && c >= 'A' && c <= 'Z', i == 2:
		default:
			return false
		}
	}
	return true
}
