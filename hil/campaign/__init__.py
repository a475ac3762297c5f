"""hil.campaign: every stage for one board, resumable, into one run directory and one report.

runner.py    Stage, run_stages: the stage runner the campaign and the nightly run share
             (fingerprints, resume, failures, skips, exit code)
probe.py     the fixed DC probe network: per-neuron rates, dead and hot neurons
stages.py    the campaign's stages (probe, conformance, screen, compare; thin calls to the
             commands of characterize, fit, calibrate, train, quantize, deploy, evaluate)
campaign.py  run_campaign(board, out, profile)
cli.py       `hil campaign --board URL --out DIR [--quick]`

docs/campaign.md says what each stage does and what is in this build.
"""
