package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/delivery"
	"github.com/rackwatch/rackwatch/agent/journal"
)

func cmdJournal(args []string) int {
	if len(args) == 0 || args[0] != "inspect" {
		fmt.Fprintln(os.Stderr, "usage: rackwatch journal inspect --state-dir DIR [-n 50]")
		return 2
	}
	fs := flag.NewFlagSet("journal inspect", flag.ContinueOnError)
	stateDir := fs.String("state-dir", config.DefaultStateDir, "the gateway's state_dir")
	limit := fs.Int("n", 50, "list at most this many pending transitions per broker (0: all)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	dir := delivery.JournalDir(*stateDir)
	if _, err := os.Stat(dir); err != nil {
		fmt.Fprintln(os.Stderr, "rackwatch journal:", err)
		return 1
	}
	snap, err := journal.Inspect(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rackwatch journal:", err)
		return 1
	}
	var last uint64
	if n := len(snap.Records); n > 0 {
		last = snap.Records[n-1].ID
	}
	fmt.Printf("journal %s: %d bytes, %d transitions on disk, newest id %d\n", dir, snap.Bytes, len(snap.Records), last)
	if snap.Damaged > 0 {
		fmt.Printf("  %d segment(s) end in a torn or corrupt record (cut off at the agent's next start)\n", snap.Damaged)
	}
	names := make([]string, 0, len(snap.Cursors))
	for n := range snap.Cursors {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		fmt.Println("no broker has connected yet: every transition is pending")
	}
	now := time.Now()
	for _, n := range names {
		acked := snap.Cursors[n]
		var pending []journal.Record
		for _, r := range snap.Records {
			if r.ID > acked {
				pending = append(pending, r)
			}
		}
		fmt.Printf("\nbroker %s: acknowledged up to id %d, %d pending\n", n, acked, len(pending))
		if len(pending) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tSEQ\tAGE\tALARM\tSTATE\tSEVERITY")
		for i, r := range pending {
			if *limit > 0 && i == *limit {
				fmt.Fprintf(tw, "  … %d more (-n 0 lists all)\n", len(pending)-i)
				break
			}
			if contract.IsActionKey(r.Key) {
				var act contract.Action
				if err := json.Unmarshal(r.Data, &act); err == nil {
					fmt.Fprintf(tw, "  %d	-	%s	%s	%s (%s)	%s\n", r.ID, age(now, r.Time), r.Key, act.State, act.Result, act.Severity)
					continue
				}
			}
			var a contract.Alarm
			if err := json.Unmarshal(r.Data, &a); err != nil {
				fmt.Fprintf(tw, "  %d\t?\t%s\t%s\tunreadable: %v\t\n", r.ID, age(now, r.Time), r.Key, err)
				continue
			}
			fmt.Fprintf(tw, "  %d\t%d\t%s\t%s\t%s (%s)\t%s\n", r.ID, a.Seq, age(now, r.Time), r.Key, a.State, a.Event, a.Severity)
		}
		tw.Flush()
	}
	return 0
}

func age(now, t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return max(now.Sub(t), 0).Truncate(time.Second).String()
}
