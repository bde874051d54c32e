package api

import (
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/workflows"
)

// ActorHeader names the person an operator action is taken for, on the JSON API (the console
// sets it from its sign-in): it is recorded with the action in the workflow's history and
// status. The operator token is the authority; the actor says who used it.
const ActorHeader = "X-Epcflow-Actor"

// checkActor returns a person's name as recorded, or what is wrong with it: 1 to
// workflows.MaxActorLen printable characters (surrounding spaces are dropped).
func checkActor(name string) (string, string) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", "is empty"
	case !utf8.ValidString(name):
		return "", "must be UTF-8"
	case utf8.RuneCountInString(name) > workflows.MaxActorLen:
		return "", fmt.Sprintf("must be at most %d characters", workflows.MaxActorLen)
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return "", "must be printable characters only"
	}
	return name, ""
}

// requestActor reads ActorHeader: "" when absent; false when it is invalid (answered 400).
func requestActor(c *gin.Context) (string, bool) {
	v := c.Request.Header.Values(ActorHeader)
	switch len(v) {
	case 0:
		return "", true
	case 1:
		name, msg := checkActor(v[0])
		if msg == "" {
			c.Set(keyLogger, LoggerFrom(c).With("actor", name))
			return name, true
		}
		abort(c, http.StatusBadRequest, CodeInvalidRequest, "header "+ActorHeader+" "+msg)
	default:
		abort(c, http.StatusBadRequest, CodeInvalidRequest, "header "+ActorHeader+" given more than once")
	}
	return "", false
}
