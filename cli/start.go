package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
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
  deliver   deliver the appraisal report    --id TX --value DOLLARS [--pdf FILE] [--actor WHO]
  show      show a transaction              --id TX [--sandbox-view]
  portal-token  sign-in link for a portal user  --email E [--portal-db DSN]
  portal-revoke end a portal user's sessions and revoke their links --email E [--portal-db DSN]

Each finds the stack ` + "`epcflow dev`" + ` runs from its data directory (--data-dir, default .epcflow,
env EPCFLOW_DATA_DIR), where dev records where its parts listen while it runs. --api and
--sandbox (env EPCFLOW_API_URL, EPCFLOW_SANDBOX_URL) name them instead; --operator-token
(env EPCFLOW_OPERATOR_TOKEN) when the API wants one.
`

// startArgs are an action's flags.
type startArgs struct {
	id, reqType, loanNumber, street, user, pass, data string
	comments, at, appraiser, pdf, token, actor        string
	value                                             int
	noAddress, sandboxView                            bool
}

func runStart(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stdout, startUsage)
		return nil
	}
	action := args[0]
	f := newFlags(e, "start "+action)
	var (
		a                           startArgs
		sandboxURL, apiURL, dataDir string
		email, portalDB             string
	)
	dataDirFlag(f, &dataDir, "data directory of the running `epcflow dev`, where it records where its parts listen")
	f.str(&sandboxURL, "sandbox", "EPCFLOW_SANDBOX_URL", "", "sandbox base URL (default: the running stack's)")
	f.str(&apiURL, "api", "EPCFLOW_API_URL", "", "epcflow API base URL (default: the running stack's)")
	f.secret(&a.token, "operator-token", "EPCFLOW_OPERATOR_TOKEN", "", "bearer token for the operator endpoints")
	f.str(&a.id, "id", "", "", "transaction id")
	if action == "schedule" || action == "deliver" {
		f.str(&a.actor, "actor", "EPCFLOW_ACTOR", os.Getenv("USER"), "who is acting, recorded with the action (default: $USER)")
	}
	switch action {
	case "order":
		f.str(&a.reqType, "type", "", workflows.TypeFloodCertification, "request type")
		f.str(&a.loanNumber, "loan-number", "", "", "loan number (default: generated)")
		f.str(&a.street, "street", "", "4430 Rosewood Dr", "property street address")
		f.boolean(&a.noAddress, "no-address", false, "leave the property address out, so epcflow asks for it (inputRequired)")
		f.str(&a.user, "username", "", "demo", "lender user's partner username")
		f.str(&a.pass, "password", "", "demo-password-1", "lender user's partner password")
	case "update":
		f.str(&a.data, "json", "", "", "JSON merge patch for the request")
	case "cancel":
		f.str(&a.comments, "comments", "", "Order no longer needed", "cancellation comments")
	case "schedule":
		f.str(&a.at, "at", "", "", "inspection time, RFC 3339 (default: in 48 hours)")
		f.str(&a.appraiser, "appraiser", "", "Scott Cooper", "appraiser's name")
	case "deliver":
		f.str(&a.pdf, "pdf", "", "", "report PDF file (default: a generated sample)")
		f.integer(&a.value, "value", "", 0, "appraised value in whole dollars")
	case "portal-token", "portal-revoke":
		f.str(&email, "email", "", "", "the portal user's e-mail (portal-token: created if new)")
		f.str(&portalDB, "portal-db", "EPCFLOW_PORTAL_DSN", "", "portal users' database: a postgres:// DSN or a SQLite file (default: the running stack's, else <data-dir>/portal.db)")
	case "show":
		f.boolean(&a.sandboxView, "sandbox-view", false, "show the sandbox's record (response history, events, files, webhooks) instead of epcflow's state")
	default:
		fmt.Fprint(e.stderr, startUsage)
		return usageErr("unknown action %q", action)
	}
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	t := &stackTarget{
		dataDir: dataDir, apiURL: apiURL, sandboxURL: sandboxURL, apiSet: set["api"], sbSet: set["sandbox"],
		devCommand: e.command(dataDir, "dev"),
	}
	if action == "portal-token" || action == "portal-revoke" {
		if email == "" {
			return usageErr("--email is required")
		}
		return portalAction(ctx, e, t, action, email, portalDB, set["portal-db"])
	}
	if action != "order" && a.id == "" {
		return usageErr("--id is required")
	}
	viaAPI := action == "schedule" || action == "deliver" || (action == "show" && !a.sandboxView)
	if err := t.need(viaAPI, !viaAPI); err != nil {
		return err
	}
	if viaAPI {
		if err := t.operatorToken(a.token); err != nil {
			return err
		}
	}
	return t.explain(startAction(ctx, e, t, action, a), viaAPI)
}

// startAction runs an order or operator action against the stack t names.
func startAction(ctx context.Context, e *env, t *stackTarget, action string, a startArgs) error {
	lender, op := demo.NewLender(t.sandboxURL), demo.NewOperator(t.apiURL, a.token)
	op.Actor = a.actor
	out := json.NewEncoder(e.stdout)
	out.SetIndent("", "  ")
	switch action {
	case "order":
		if a.loanNumber == "" {
			a.loanNumber = cliLoanNumber(time.Now())
		}
		req := demo.SampleOrder(a.reqType, a.loanNumber, a.street)
		if a.noAddress {
			req.Loan = json.RawMessage(fmt.Sprintf(`{"loanNumber":%q}`, a.loanNumber))
		}
		req.Credentials = map[string]any{"username": a.user, "password": a.pass}
		o, err := lender.PlaceOrder(ctx, req)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "placed %s order %s (loan %s)\nfollow it: %s\n", a.reqType, o.ID, a.loanNumber, e.command(t.dataDir, "start", "show", "--id", o.ID))
	case "update":
		if !json.Valid([]byte(a.data)) {
			return usageErr("--json is not valid JSON")
		}
		if err := lender.UpdateRequest(ctx, a.id, json.RawMessage(a.data)); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "request of %s updated\n", a.id)
	case "cancel":
		if err := lender.Cancel(ctx, a.id, a.comments); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "cancellation of %s sent\n", a.id)
	case "schedule":
		when := time.Now().Add(48 * time.Hour).Truncate(time.Hour)
		if a.at != "" {
			t, err := time.Parse(time.RFC3339, a.at)
			if err != nil {
				return usageErr("--at: %v", err)
			}
			when = t
		}
		r, err := op.Schedule(ctx, a.id, when, a.appraiser)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, r.Message)
	case "deliver":
		if a.value <= 0 {
			return usageErr("--value must be a positive whole number of dollars")
		}
		body := demo.SampleReport(a.id, int64(a.value))
		if a.pdf != "" {
			b, err := os.ReadFile(a.pdf)
			if err != nil {
				return err
			}
			body = b
		}
		r, err := op.Deliver(ctx, a.id, body, int64(a.value))
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, r.Message)
	case "show":
		if a.sandboxView {
			raw, err := lender.Transaction(ctx, a.id)
			if err != nil {
				return err
			}
			var v any
			_ = json.Unmarshal(raw, &v)
			return out.Encode(v)
		}
		st, err := op.Status(ctx, a.id)
		if err != nil {
			return err
		}
		return out.Encode(st)
	}
	return nil
}

// cliLoanNumber is a loan number for an order placed without one: when, and a random part,
// so that orders placed in the same second are told apart.
func cliLoanNumber(now time.Time) string {
	return fmt.Sprintf("CLI-%s-%04X", now.UTC().Format("20060102-150405"), rand.IntN(1<<16))
}

// portalAction runs the portal's own actions on the stack's portal database: a sign-in link
// for a user (to the stack's API), or the revocation of everything that signs them in.
// Sign-in links are random tokens kept (hashed) in that database: no secret is needed.
func portalAction(ctx context.Context, e *env, t *stackTarget, action, email, portalDB string, dbSet bool) error {
	if action == "portal-token" {
		if err := t.need(true, false); err != nil {
			return err
		}
	}
	dsn, err := t.portalDB(portalDB, dbSet)
	if err != nil {
		return err
	}
	if action == "portal-token" && !t.apiSet {
		if err := t.answering(ctx); err != nil {
			return err
		}
	}
	store, err := portal.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer store.Close()
	addr := portal.NormalizeEmail(email)
	if action == "portal-token" {
		_, link, err := api.IssuePortalToken(ctx, store, email, t.apiURL)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "sign in: %s\n(open it in a browser: it signs %s in, for %d days, and lists their packages; %s revokes it)\n",
			link, addr, int(api.DefaultInvitationTTL.Hours()/24), e.command(t.dataDir, "start", "portal-revoke", "--email", addr))
		return nil
	}
	u, r, err := store.RevokeUser(ctx, email)
	if errors.Is(err, portal.ErrNotFound) {
		return fmt.Errorf("no portal user with e-mail %s", addr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "portal user %s (%s): %d sessions ended, %d invitation links and %d sign-in links revoked\n(what they may open is unchanged: %s gives them a new link)\n",
		u.Email, u.ID, r.Sessions, r.Invitations, r.SignInLinks, e.command(t.dataDir, "start", "portal-token", "--email", u.Email))
	return nil
}
