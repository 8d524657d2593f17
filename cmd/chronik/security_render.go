package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/chronik-dev/chronik/internal/topicadmin"
)

// RenderUserList writes one row per credential: USER, MECHANISM,
// ITERATIONS. A user without credentials (only possible mid-change) gets
// dashes.
func RenderUserList(w io.Writer, us []topicadmin.User, opts TableOptions) error {
	t := NewTable(opts, "USER", "MECHANISM", "ITERATIONS")
	for _, u := range us {
		if len(u.Credentials) == 0 {
			t.Row(u.Name, "-", "-")
		}
		for _, c := range u.Credentials {
			t.Row(u.Name, c.Mechanism, strconv.Itoa(int(c.Iterations)))
		}
	}
	return t.Render(w)
}

// RenderUserChange says what `user create` or `user delete` did.
func RenderUserChange(w io.Writer, ch topicadmin.UserChange) error {
	var msg string
	switch ch.Action {
	case "set":
		msg = fmt.Sprintf("Set the %s credential of user %q (%d iterations).\n", strings.Join(ch.Mechanisms, ", "), ch.Name, ch.Iterations)
	default:
		msg = fmt.Sprintf("Deleted the %s %s of user %q.\n", strings.Join(ch.Mechanisms, " and "),
			plural(len(ch.Mechanisms), "credential", "credentials"), ch.Name)
	}
	_, err := io.WriteString(w, msg)
	return err
}

// RenderACLs writes ACLs: PRINCIPAL, HOST, OPERATION, PERMISSION,
// RESOURCE, NAME, PATTERN.
func RenderACLs(w io.Writer, acls []topicadmin.ACL, opts TableOptions) error {
	t := NewTable(opts, "PRINCIPAL", "HOST", "OPERATION", "PERMISSION", "RESOURCE", "NAME", "PATTERN")
	for _, a := range acls {
		t.Row(a.Principal, a.Host, a.Operation, a.Permission, a.ResourceType, a.ResourceName, a.PatternType)
	}
	return t.Render(w)
}

// entityCell is the name of an entity's part of typ: the name, "<default>",
// or "-" when the entity has no such part.
func entityCell(e topicadmin.QuotaEntity, typ string) string {
	p, ok := e.Part(typ)
	switch {
	case !ok:
		return "-"
	case p.Default:
		return "<default>"
	default:
		return p.Name
	}
}

// quotaValue prints a quota without a float's noise: 1048576, 12.5.
func quotaValue(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// RenderQuotaList writes quotas: USER, CLIENT-ID, PRODUCER_BYTE_RATE,
// CONSUMER_BYTE_RATE, REQUEST_PERCENTAGE, OTHER (any other key=value).
func RenderQuotaList(w io.Writer, qs []topicadmin.Quota, opts TableOptions) error {
	known := []string{topicadmin.QuotaProducerByteRate, topicadmin.QuotaConsumerByteRate, topicadmin.QuotaRequestPercentage}
	t := NewTable(opts, "USER", "CLIENT-ID", "PRODUCER_BYTE_RATE", "CONSUMER_BYTE_RATE", "REQUEST_PERCENTAGE", "OTHER")
	for _, q := range qs {
		row := []string{entityCell(q.Entity, topicadmin.QuotaEntityUser), entityCell(q.Entity, topicadmin.QuotaEntityClientID)}
		for _, k := range known {
			if v, ok := q.Values[k]; ok {
				row = append(row, quotaValue(v))
			} else {
				row = append(row, "-")
			}
		}
		var other []string
		for _, k := range slices.Sorted(maps.Keys(q.Values)) {
			if !slices.Contains(known, k) {
				other = append(other, k+"="+quotaValue(q.Values[k]))
			}
		}
		row = append(row, listOrDash(other))
		t.Row(row...)
	}
	return t.Render(w)
}

// RenderQuotaChange says what `quota set` changed.
func RenderQuotaChange(w io.Writer, ch topicadmin.QuotaChange) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Quotas of %s:", ch.Entity)
	for _, k := range slices.Sorted(maps.Keys(ch.Set)) {
		fmt.Fprintf(&b, " set %s=%s;", k, quotaValue(ch.Set[k]))
	}
	for _, k := range ch.Deleted {
		fmt.Fprintf(&b, " deleted %s;", k)
	}
	s := strings.TrimSuffix(b.String(), ";") + ".\n"
	_, err := io.WriteString(w, s)
	return err
}
