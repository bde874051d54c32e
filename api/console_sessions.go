package api

import (
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/starter"
)

// The hosted consumer sessions on the console: Delivery Room packages (each recipient
// opened or not) and Inbank payment sessions, the most recent first.

// sessionsView is the sessions page.
type sessionsView struct {
	Packages []packageView
	Payments []starter.PaymentRow
}

// packageView is a package with its key's parts.
type packageView struct {
	starter.PackageRow
	PackageID, Loan string
	Opened, Total   int
}

// sessionsPage is GET /console/sessions.
func (h *console) sessionsPage(c *gin.Context) {
	ctx, cancel := h.srv.operatorContext(c)
	defer cancel()
	var (
		wg           sync.WaitGroup
		v            sessionsView
		packages     []starter.PackageRow
		perr, payErr error
	)
	wg.Add(2)
	go func() { defer wg.Done(); packages, _, perr = h.cfg.Engine.Packages(ctx, h.cfg.PageSize, nil) }()
	go func() { defer wg.Done(); v.Payments, _, payErr = h.cfg.Engine.Payments(ctx, h.cfg.PageSize, nil) }()
	wg.Wait()
	for _, err := range []error{perr, payErr} {
		if err != nil {
			h.engineFailure(c, "the sessions", err)
			return
		}
	}
	for _, p := range packages {
		pv := packageView{PackageRow: p, PackageID: p.ID, Total: len(p.State.Recipients)}
		// The key is instanceId/groupNamespace/groupId/packageId, each path-escaped.
		if parts := strings.Split(p.ID, "/"); len(parts) == 4 {
			pv.Loan, _ = url.PathUnescape(parts[2])
			pv.PackageID, _ = url.PathUnescape(parts[3])
		}
		for _, r := range p.State.Recipients {
			if r.Opened {
				pv.Opened++
			}
		}
		v.Packages = append(v.Packages, pv)
	}
	h.render(c, http.StatusOK, "sessions", pageData{Title: "Consumer sessions", Nav: "sessions", Content: v})
}
