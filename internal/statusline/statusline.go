// Package statusline words a non-2xx HTTP reply the same way in every client's errors.
package statusline

import (
	"net/http"
	"strconv"
)

// String is "status reason: message", e.g. "404 Not Found: no such package"; the reason is
// left out for a status without one, the message when empty.
func String(status int, message string) string {
	s := strconv.Itoa(status)
	if t := http.StatusText(status); t != "" {
		s += " " + t
	}
	if message != "" {
		s += ": " + message
	}
	return s
}
