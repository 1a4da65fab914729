// Package queuesort is the PrioritySort plugin: the active queue serves
// pods by priority, then by the time they were queued.
package queuesort
