/** Environment variable through which a forked event worker receives the resolved config… */
export const WORKER_CONFIG_ENV = 'CONVEYOR_WORKER_CONFIG';
/** …and, with several nodes, the id of its node. */
export const WORKER_NODE_ENV = 'CONVEYOR_NODE_ID';
