//go:build !chronik_faults

package server

import "net/http"

// registerFaults serves nothing without the chronik_faults build tag:
// /v1/debug/faults answers 404 like any unknown path, and no fault code is
// linked (faults_faults.go has it).
func registerFaults(*http.ServeMux, *handler) {}
