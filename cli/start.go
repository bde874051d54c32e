package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/epcflow/epcflow/api"
	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/workflows"
)

const startUsage = `Usage: epcflow start <action> [flags]

Actions (the lender's ones go to the sandbox, the operator's to the epcflow API):
  order     place a sandbox order           --type Appraisal|FloodCertification [--loan-number N] [--street S] [--no-address] [--username U --password P]
  update    merge JSON into the request     --id TX --json '{"loan":{"property":{"streetAddress":"1 Main St"}}}'
  cancel    cancel an order                 --id TX [--comments C]
  schedule  schedule the inspection         --id TX [--at RFC3339] [--appraiser NAME] [--actor WHO]
  deliver   deliver the appraisal report    --id TX --pdf FILE --value DOLLARS [--actor WHO]
  show      show a transaction              --id TX [--sandbox-view]
  portal-token  sign-in link for a portal user  --email E [--portal-db DSN]
  portal-revoke end a portal user's sessions and revoke their links --email E [--portal-db DSN]
`

func runStart(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stdout, startUsage)
		return nil
	}
	action := args[0]
	f := newFlags(e, "start "+action)
	var (
		sandboxURL, apiURL, token, id                 string
		reqType, loanNumber, street, user, pass, data string
		comments, at, appraiser, pdf                  string
		value                                         int
		noAddress, sandboxView                        bool
		email, portalDB                               string
	)
	f.str(&sandboxURL, "sandbox", "EPCFLOW_SANDBOX_URL", "http://127.0.0.1:8090", "sandbox base URL")
	f.str(&apiURL, "api", "EPCFLOW_API_URL", "http://127.0.0.1:8080", "epcflow API base URL")
	f.secret(&token, "operator-token", "EPCFLOW_OPERATOR_TOKEN", "", "bearer token for the operator endpoints")
	f.str(&id, "id", "", "", "transaction id")
	var actor string
	if action == "schedule" || action == "deliver" {
		f.str(&actor, "actor", "EPCFLOW_ACTOR", os.Getenv("USER"), "who is acting, recorded with the action (default: $USER)")
	}
	switch action {
	case "order":
		f.str(&reqType, "type", "", workflows.TypeFloodCertification, "request type")
		f.str(&loanNumber, "loan-number", "", "", "loan number (default: generated)")
		f.str(&street, "street", "", "4430 Rosewood Dr", "property street address")
		f.boolean(&noAddress, "no-address", false, "leave the property address out, so epcflow asks for it (inputRequired)")
		f.str(&user, "username", "", "demo", "lender user's partner username")
		f.str(&pass, "password", "", "demo-password-1", "lender user's partner password")
	case "update":
		f.str(&data, "json", "", "", "JSON merge patch for the request")
	case "cancel":
		f.str(&comments, "comments", "", "Order no longer needed", "cancellation comments")
	case "schedule":
		f.str(&at, "at", "", "", "inspection time, RFC 3339 (default: in 48 hours)")
		f.str(&appraiser, "appraiser", "", "Scott Cooper", "appraiser's name")
	case "deliver":
		f.str(&pdf, "pdf", "", "", "report PDF file (default: a generated sample)")
		f.integer(&value, "value", "", 0, "appraised value in whole dollars")
	case "portal-token", "portal-revoke":
		f.str(&email, "email", "", "", "the portal user's e-mail (portal-token: created if new)")
		f.str(&portalDB, "portal-db", "EPCFLOW_PORTAL_DSN", ".epcflow/portal.db", "portal users' database: a postgres:// DSN or a SQLite file")
	case "show":
		f.boolean(&sandboxView, "sandbox-view", false, "show the sandbox's record (response history, events, files, webhooks) instead of epcflow's state")
	default:
		fmt.Fprint(e.stderr, startUsage)
		return usageErr("unknown action %q", action)
	}
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	if action == "portal-token" || action == "portal-revoke" {
		return portalAction(ctx, e, action, email, portalDB, apiURL)
	}
	if action != "order" && id == "" {
		return usageErr("--id is required")
	}
	lender, op := demo.NewLender(sandboxURL), demo.NewOperator(apiURL, token)
	op.Actor = actor
	out := json.NewEncoder(e.stdout)
	out.SetIndent("", "  ")
	switch action {
	case "order":
		if loanNumber == "" {
			loanNumber = "CLI-" + time.Now().UTC().Format("20060102150405")
		}
		req := demo.SampleOrder(reqType, loanNumber, street)
		if noAddress {
			req.Loan = json.RawMessage(fmt.Sprintf(`{"loanNumber":%q}`, loanNumber))
		}
		req.Credentials = map[string]any{"username": user, "password": pass}
		o, err := lender.PlaceOrder(ctx, req)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "placed %s order %s (loan %s)\nfollow it: epcflow start show --id %s\n", reqType, o.ID, loanNumber, o.ID)
	case "update":
		if !json.Valid([]byte(data)) {
			return usageErr("--json is not valid JSON")
		}
		if err := lender.UpdateRequest(ctx, id, json.RawMessage(data)); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "request of %s updated\n", id)
	case "cancel":
		if err := lender.Cancel(ctx, id, comments); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "cancellation of %s sent\n", id)
	case "schedule":
		when := time.Now().Add(48 * time.Hour).Truncate(time.Hour)
		if at != "" {
			t, err := time.Parse(time.RFC3339, at)
			if err != nil {
				return usageErr("--at: %v", err)
			}
			when = t
		}
		r, err := op.Schedule(ctx, id, when, appraiser)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, r.Message)
	case "deliver":
		if value <= 0 {
			return usageErr("--value must be a positive whole number of dollars")
		}
		body := demo.SampleReport(id, int64(value))
		if pdf != "" {
			b, err := os.ReadFile(pdf)
			if err != nil {
				return err
			}
			body = b
		}
		r, err := op.Deliver(ctx, id, body, int64(value))
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, r.Message)
	case "show":
		if sandboxView {
			raw, err := lender.Transaction(ctx, id)
			if err != nil {
				return err
			}
			var v any
			_ = json.Unmarshal(raw, &v)
			return out.Encode(v)
		}
		st, err := op.Status(ctx, id)
		if err != nil {
			return err
		}
		return out.Encode(st)
	}
	return nil
}

// portalAction runs the portal's own actions on its database: a sign-in link for a user, or
// the revocation of everything that signs them in.
func portalAction(ctx context.Context, e *env, action, email, portalDB, apiURL string) error {
	if email == "" {
		return usageErr("--email is required")
	}
	store, err := portal.Open(ctx, portalDB)
	if err != nil {
		return err
	}
	defer store.Close()
	if action == "portal-token" {
		_, link, err := api.IssuePortalToken(ctx, store, email, apiURL)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "sign in: %s\n(open it in a browser: it signs %s in, for %d days, and lists their packages; epcflow start portal-revoke --email %s revokes it)\n",
			link, portal.NormalizeEmail(email), int(api.DefaultInvitationTTL.Hours()/24), portal.NormalizeEmail(email))
		return nil
	}
	u, r, err := store.RevokeUser(ctx, email)
	if errors.Is(err, portal.ErrNotFound) {
		return fmt.Errorf("no portal user with e-mail %s", portal.NormalizeEmail(email))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "portal user %s (%s): %d sessions ended, %d invitation links and %d sign-in links revoked\n(what they may open is unchanged: epcflow start portal-token --email %s gives them a new link)\n",
		u.Email, u.ID, r.Sessions, r.Invitations, r.SignInLinks, u.Email)
	return nil
}
