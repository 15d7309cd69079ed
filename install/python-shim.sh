#!/bin/sh
# Installed as /usr/local/bin/python in the agent image. Deployed Python agents (v1.x) upgrade themselves by running
# the newest image as a container with the command `python src/tools/upgrade_self.py` and the variables
# UPGRADE_MODE, TARGET_CONTAINER, NEW_IMAGE, MTLS_HOST_PATH, SHARED_VOLUME (docs/protocol.md#upgrade_orchestrator).
# This image has no Python: that one command is handed to the agent's own upgrader, which reads the same variables.
case "${1:-}" in
  src/tools/upgrade_self.py | ./src/tools/upgrade_self.py | /app/src/tools/upgrade_self.py)
    exec node /app/dist/src/main.js upgrade-self
    ;;
esac
echo "python: this image has no Python interpreter; only 'python src/tools/upgrade_self.py' (the upgrader of the" \
  "Python agent's upgrade_orchestrator) is understood, and it runs the agent's own upgrader" >&2
exit 127
