// Package queue is the scheduling queue: the active queue ordered by the
// QueueSort plugin (priority, then time), the back-off queue (1s doubling
// to 10s per attempt), and the unschedulable pods, retried when a cluster
// event that could make them schedulable happens (or after five minutes).
// It also remembers the nodes preemptors are nominated to.
package queue
