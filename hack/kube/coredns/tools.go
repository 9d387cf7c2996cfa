//go:build tools

// Package tools records the CoreDNS command this module builds (cluster DNS of the local cluster).
package tools

import (
	_ "github.com/coredns/coredns"
)
