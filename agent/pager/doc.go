// Package pager is the central service, `rackwatch pager`: it turns the alarms of every gateway into
// pages, and pages on a gateway that is dead.
//
// A replica follows every configured central broker with a persistent MQTT session, subscribed to every
// gateway's retained status, retained alarm states and events. Whatever arrives — from any broker, in any
// order, any number of times — is applied to a book that keys everything on (gateway, alarm, episode),
// the episode being the seq of the raise that opened the alarm's active period: each episode is triggered
// once, acknowledged at most once and resolved once, and a clear always finds its page, after restarts on
// either side. A gateway whose status stays offline for offline_grace, or that says nothing for
// silent_after while its status says online, gets a critical page of its own, resolved when it is back.
//
// Notifications are journaled (agent/journal, fsync'd) before any receiver sees them, and each receiver
// endpoint reads the journal with its own cursor, so a receiver that is down delays no other and a restart
// loses nothing. Receivers are Prometheus Alertmanager (the fleet path), PagerDuty Events v2 and a signed
// webhook (subpackages). Several replicas may run against the same brokers: every receiver call is
// idempotent on the page's key, so they do not double-page.
//
// The book is saved to pages.json in the state directory with the id of the last journal record it
// reflects; at start the journal's later records are replayed on top of it.
package pager
