// Command rulecheck checks Prometheus rule files the way Prometheus loads them (rulefmt: the group and rule
// fields, every PromQL expression parsed, label and annotation templates); the core of `promtool check rules`
// without promtool's large dependency graph. Usage: rulecheck FILE... (exit 1 on any error).
package main

import (
	"fmt"
	"os"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

func main() {
	bad := 0
	p := parser.NewParser(parser.Options{})
	for _, f := range os.Args[1:] {
		groups, errs := rulefmt.ParseFile(f, false, model.LegacyValidation, p, promslog.NewNopLogger())
		for _, e := range errs {
			fmt.Fprintf(os.Stderr, "%s: %v\n", f, e)
			bad++
		}
		if groups != nil {
			n := 0
			for _, g := range groups.Groups {
				n += len(g.Rules)
			}
			fmt.Printf("%s: %d rules\n", f, n)
		}
	}
	if bad > 0 {
		os.Exit(1)
	}
}
