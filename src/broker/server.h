/*
 * server.h - starting and stopping the network workers.
 *
 * Layer: src/broker. Called from main() only.
 */
#ifndef RN_BROKER_SERVER_H
#define RN_BROKER_SERVER_H

/* Opens the listeners and starts num.network.threads workers. Returns 0 or -errno. */
int rn_server_start(void);
/* Stops accepting, answers what is in flight, closes connections, joins the workers. */
void rn_server_stop(void);

#endif
