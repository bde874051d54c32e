package epcemu

import (
	"encoding/json"
	"net/http"

	"github.com/epcflow/epcflow/sandbox/internal/core"
)

// productView is a product in the control API (never its signing key).
type productView struct {
	Name         string          `json:"name"`
	ID           string          `json:"id"`
	PartnerID    string          `json:"partnerId"`
	Entitlements json.RawMessage `json:"entitlements"`
}

func (p *product) view() productView {
	return productView{Name: p.Name, ID: p.ID, PartnerID: p.PartnerID, Entitlements: p.entitlementData()}
}

func (e *EPC) listProducts(w http.ResponseWriter, r *http.Request) error {
	ps := e.st.productList()
	out := make([]productView, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.view())
	}
	core.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (e *EPC) getEntitlements(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	p := e.st.product(name)
	if p == nil {
		return core.NotFound("product %s not found", core.QuoteShort(name))
	}
	core.WriteRawJSON(w, http.StatusOK, p.entitlementData())
	return nil
}

// putEntitlements is PUT /sandbox/epc/products/{name}/entitlements: the product's
// entitlements data object, replacing the previous one; the product is created if new
// [ours: an optional top-level "signingKey" gives a new product its own webhook key].
func (e *EPC) putEntitlements(w http.ResponseWriter, r *http.Request) error {
	const what = "invalid entitlements"
	name := r.PathValue("name")
	obj, err := core.ReadObject(r, false, what)
	if err != nil {
		return err
	}
	data, explicitKey, ps := parseEntitlements(obj)
	if err := core.InvalidIf(what, ps); err != nil {
		return err
	}
	key := explicitKey
	if key == "" {
		key = e.cfg.SigningKey
	}
	p, created := e.st.productOrNew(name, key)
	if !created && explicitKey != "" && p.SigningKey != explicitKey {
		return core.Conflict("product %s already exists with another signing key: keys cannot change", core.QuoteShort(name))
	}
	if err := p.setEntitlements(data); err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	core.WriteJSON(w, status, p.view())
	return nil
}
