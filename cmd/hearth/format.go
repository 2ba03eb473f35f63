package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hearth-hub/hearth/daemon/api"
	"github.com/hearth-hub/hearth/hub"
)

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

func printHealth(w io.Writer, h *api.Health) {
	t := table(w)
	fmt.Fprintf(t, "hearthd\t%s, up %s, %s\n", h.Version, time.Duration(h.Uptime), h.Status)
	for _, p := range h.Problems {
		fmt.Fprintf(t, "problem\t%s\n", p)
	}
	if len(h.Restart) > 0 {
		fmt.Fprintf(t, "restart\tneeded for config changes to %s\n", strings.Join(h.Restart, ", "))
	}
	fmt.Fprintf(t, "config\t%s\n", orDash(h.Config))
	fmt.Fprintf(t, "entities\t%d\n", h.Entities)
	fmt.Fprintf(t, "bus\tseq %d, %d events published\n", h.Bus.Seq, h.Bus.Published)
	for _, s := range h.Bus.Subscribers {
		fmt.Fprintf(t, "  %s\tqueued %d/%d, delivered %d, dropped %d\n", s.Name, s.Queued, s.Limit, s.Delivered, s.Dropped)
	}
	st := h.Store
	last := "never"
	if !st.LastCommit.IsZero() {
		last = fmt.Sprintf("%s ago, took %s", time.Since(st.LastCommit).Round(time.Second), time.Duration(st.LastCommitDuration).Round(time.Microsecond))
	}
	fmt.Fprintf(t, "store\t%s\n", st.Path)
	fmt.Fprintf(t, "  committed\tseq %d, %d pending, %d commits (last %s), %d errors\n", st.Committed, st.Pending, st.Commits, last, st.CommitErrors)
	if st.LastError != "" {
		fmt.Fprintf(t, "  last error\t%s\n", st.LastError)
	}
	t.Flush()
}

func printEntities(w io.Writer, all []hub.Snapshot) {
	if len(all) == 0 {
		fmt.Fprintln(w, "no entities")
		return
	}
	t := table(w)
	fmt.Fprintln(t, "ID\tNAME\tSTATE\tUPDATED")
	for _, e := range all {
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", e.ID, name(e), stateLine(e), ago(e.UpdatedAt))
	}
	t.Flush()
}

func name(e hub.Snapshot) string {
	if e.Name == "" || e.Name == string(e.ID) {
		return "-"
	}
	return e.Name
}

// stateLine is an entity's state on one line: "16 °C" for a helper,
// "mode=heat target=21 °C" for the rest.
func stateLine(e hub.Snapshot) string {
	if !e.Available {
		return "unavailable: " + e.Error
	}
	if v, ok := e.Attrs[hub.VirtualValueAttr]; ok && len(e.Attrs) == 1 {
		return v.String()
	}
	a := func(k string) string { return e.Attrs[k].String() }
	switch e.ID.Kind() {
	case "thermostat":
		line := a("mode") + " " + a("target") + ", now " + a("current") + ": " + a("action")
		if r := a("reason"); r != "" {
			line += " (" + r + ")"
		}
		return line
	case "lock":
		line := a("state") + ", door " + a("door")
		if r := a("reason"); r != "" {
			line += " (" + r + ")"
		}
		return line
	}
	parts := make([]string, 0, len(e.Attrs))
	for _, k := range sortedAttrs(e.Attrs) {
		if v := e.Attrs[k]; v.Type() != hub.TypeString || v.Text() != "" {
			parts = append(parts, k+"="+v.String())
		}
	}
	return orDash(strings.Join(parts, " "))
}

func printEntity(w io.Writer, e *hub.Snapshot) {
	t := table(w)
	fmt.Fprintf(t, "%s\t%s\n", e.ID, name(*e))
	avail := "yes"
	if !e.Available {
		avail = "no: " + e.Error
	}
	fmt.Fprintf(t, "available\t%s\n", avail)
	fmt.Fprintf(t, "updated\t%s (%s)\n", e.UpdatedAt.Local().Format(time.DateTime), ago(e.UpdatedAt))
	fmt.Fprintln(t, "\nATTRIBUTE\tVALUE\tTYPE\t")
	for _, s := range e.Schema {
		v, ok := e.Attrs[s.Name]
		val := "-"
		if ok {
			val = v.String()
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t\n", s.Name, val, describe(s))
	}
	if len(e.Actions) > 0 {
		fmt.Fprintln(t, "\nACTION\tARGUMENTS\t\t")
		for _, a := range e.Actions {
			args := make([]string, 0, len(a.Args))
			for _, s := range a.Args {
				args = append(args, s.Name+"=<"+s.Type.String()+">")
			}
			crit := ""
			if a.Critical {
				crit = "audited before it runs"
			}
			fmt.Fprintf(t, "%s\t%s\t%s\t\n", a.Name, orDash(strings.Join(args, " ")), crit)
		}
	}
	t.Flush()
}

func describe(s hub.AttrSpec) string {
	d := s.Type.String()
	switch {
	case s.Type == hub.TypeNumber && s.Ranged:
		d += fmt.Sprintf(" %s..%s", num(s.Min), num(s.Max))
		if s.Step > 0 {
			d += " step " + num(s.Step)
		}
		if s.Unit != "" {
			d += " " + s.Unit
		}
	case s.Type == hub.TypeNumber && s.Unit != "":
		d += " " + s.Unit
	case s.Type == hub.TypeEnum:
		d += " " + strings.Join(s.Options, "|")
	}
	if s.Writable {
		d += ", writable"
	}
	return d
}

func printHistory(w io.Writer, h *api.History) {
	t := table(w)
	step := "raw"
	if h.Step > 0 {
		step = "step " + time.Duration(h.Step).String()
	}
	fmt.Fprintf(t, "%s from %s to %s, %s\n", h.Entity, h.From.Local().Format(time.DateTime), h.To.Local().Format(time.DateTime), step)
	n := 0
	for _, s := range h.Series {
		n += len(s.Points)
	}
	if n == 0 {
		fmt.Fprintln(t, "no history in that range")
		t.Flush()
		return
	}
	fmt.Fprintln(t, "TIME\tATTRIBUTE\tVALUE\tMIN\tMAX\tN")
	for _, s := range h.Series {
		for _, p := range s.Points {
			mn, mx := "", ""
			if p.Min != nil {
				mn = num(*p.Min)
			}
			if p.Max != nil {
				mx = num(*p.Max)
			}
			val := fmt.Sprint(p.Value)
			if f, ok := p.Value.(float64); ok {
				val = num(f)
			}
			if s.Unit != "" {
				val += " " + s.Unit
			}
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%d\n", p.At.Local().Format(time.DateTime), s.Attr, val, mn, mx, p.Count)
		}
	}
	t.Flush()
}

func printEvent(w io.Writer, ev *hub.Event) {
	parts := make([]string, 0, len(ev.Changes))
	for _, c := range ev.Changes {
		old := "-"
		if c.Old.Valid() {
			old = c.Old.String()
		}
		parts = append(parts, fmt.Sprintf("%s: %s -> %s", c.Attr, old, c.New.String()))
	}
	by := ev.Source
	if ev.Cause != "" {
		by = string(ev.Cause) + " via " + ev.Source
	}
	fmt.Fprintf(w, "%s  %s  %s  (%s)\n", ev.At.Local().Format("15:04:05.000"), ev.Entity, strings.Join(parts, ", "), by)
}

func printAudit(w io.Writer, recs []api.AuditEntry) {
	if len(recs) == 0 {
		fmt.Fprintln(w, "no audit records")
		return
	}
	t := table(w)
	fmt.Fprintln(t, "ID\tTIME\tPRINCIPAL\tSOURCE\tENTITY\tACTION\tARGS\tOUTCOME\tTOOK")
	for _, r := range recs {
		outcome := r.Outcome
		if r.Error != "" {
			outcome += ": " + r.Error
		}
		fmt.Fprintf(t, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.At.Local().Format(time.DateTime), r.Principal, r.Source,
			r.Entity, r.Action, orDash(compactArgs(r.Args)), outcome, time.Duration(r.Duration).Round(time.Microsecond))
	}
	t.Flush()
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Hour:
		return d.Round(time.Second).String() + " ago"
	case d < 48*time.Hour:
		return d.Round(time.Minute).String() + " ago"
	}
	return t.Local().Format(time.DateOnly)
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// compactArgs prints {"value": 18.5} as value=18.5.
func compactArgs(raw []byte) string {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return string(raw)
	}
	parts := make([]string, 0, len(m))
	for k, v := range m {
		b, _ := json.Marshal(v)
		parts = append(parts, k+"="+string(b))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
