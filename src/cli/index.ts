/** The tools beside the agent: `ctl` drives a local-mode agent, `doctor` checks the host. */
export { runCtl } from './ctl/main.js';
export { runDoctor } from './doctor/main.js';
