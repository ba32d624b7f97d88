// Package alertmanager sends pages to Prometheus Alertmanager through its API v2 (POST /api/v2/alerts),
// the path for fleets: Alertmanager's own routing, grouping, silences, inhibition and HA cluster then
// deliver to PagerDuty, Opsgenie, Slack or e-mail.
//
// An alert's labels identify it (gateway, site, alarm, rule, sensor, channel, severity, episode and the
// alarm's own labels), so every pager replica sends the same alert and Alertmanager keeps one. Like
// Prometheus, the pager re-sends active alerts periodically with an endsAt a few resend intervals ahead,
// and resolves an alert by sending it with endsAt set to the moment it cleared.
package alertmanager
