//go:build production

package devserver

import (
	"context"
	"errors"
)

// ErrNotInBuild is Start's answer in a production build (go build -tags production), which
// leaves the Temporal server and its Web UI out of the binary.
var ErrNotInBuild = errors.New("the embedded Temporal server and UI are not in this build (built with -tags production); use a full build (go build .) or run against a Temporal cluster")

// Server stands for a dev server in a production build, where none can be started.
type Server struct{}

// Start fails with ErrNotInBuild in a production build.
func Start(context.Context, Config) (*Server, error) { return nil, ErrNotInBuild }

// FrontendAddress returns "" in a production build.
func (*Server) FrontendAddress() string { return "" }

// FrontendHTTPAddress returns "" in a production build.
func (*Server) FrontendHTTPAddress() string { return "" }

// UIURL returns "" in a production build.
func (*Server) UIURL() string { return "" }

// Namespace returns "" in a production build.
func (*Server) Namespace() string { return "" }

// Stop does nothing in a production build.
func (*Server) Stop() error { return nil }
