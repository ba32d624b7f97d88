// Package notify is what the pager hands its receivers: a Notification (one change of one page: trigger,
// acknowledge or resolve, with the alarm object and its episode), the Receiver interface each of
// alertmanager, pagerduty and webhook implements, and how a failed call is classified (retry later, or a
// permanent refusal that retrying cannot fix). It also holds the one HTTP helper they share, so that every
// receiver bounds what it reads from a remote server the same way.
package notify
