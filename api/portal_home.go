package api

import (
	"bytes"
	"html/template"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// The portal's pages: the signed-in user's packages (where sign-in lands without next) and
// the page after signing out. Served from the binary; no script, nothing from elsewhere.

// homePage lists a user's packages; html/template escapes every value.
var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Your documents</title></head>
<body>
<h1>Your documents</h1>
<p>Signed in as {{.Email}}.</p>
{{if .Packages}}<table>
<thead><tr><th>Package</th><th>You are</th><th>Invited</th><th></th></tr></thead>
<tbody>
{{range .Packages}}<tr><td>{{.PackageID}}</td><td>{{if .Role}}{{.Role}}{{else}}recipient{{end}} ({{.RecipientID}})</td><td>{{.Invited}}</td><td><a href="{{.Open}}">{{if .Opened}}Open again{{else}}Open{{end}}</a></td></tr>
{{end}}</tbody>
</table>{{else}}<p>No documents are waiting for you.</p>{{end}}
<form method="post" action="` + SignOutPath + `"><button type="submit">Sign out</button></form>
</body>
</html>
`))

const signedOutPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head>
<body><p>You are signed out. To open your documents again, use the link from your invitation e-mail.</p></body></html>
`

type homeRow struct {
	PackageID, RecipientID, Role, Invited string
	Open                                  string
	Opened                                bool
}

// home is GET /portal/: the packages the signed-in user was invited for, each with its open
// link.
func (h *deliveryRoutes) home(c *gin.Context) {
	user, ok := h.sessionUser(c)
	if !ok {
		return
	}
	list, err := h.cfg.Portal.UserPackages(c.Request.Context(), user.ID)
	if err != nil {
		portalUnavailable(c, "list packages", err)
		return
	}
	data := struct {
		Email    string
		Packages []homeRow
	}{Email: user.Email}
	for _, p := range list {
		data.Packages = append(data.Packages, homeRow{PackageID: p.PackageID, RecipientID: p.RecipientID, Role: p.Role,
			Invited: p.Invited.UTC().Format(time.DateOnly), Open: OpenURLPath(p.PackageID, p.RecipientID), Opened: p.Opened})
	}
	var b bytes.Buffer
	if err := homePage.Execute(&b, data); err != nil {
		portalUnavailable(c, "render packages", err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, "text/html; charset=utf-8", b.Bytes())
}
