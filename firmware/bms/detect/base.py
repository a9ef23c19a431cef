"""The interface every detector implements: hooks the facade (bms.detect.plating) calls with the string's
context (bms.detect.context.StringContext); evidence goes to the level machine (bms.detect.levels) by channel."""


class Detector:
    def __init__(self, ctx, levels, cfg):
        self.ctx = ctx
        self.lv = levels
        self.cfg = cfg

    def on_segment_start(self, ctx):
        """A charge, discharge or rest begins (ctx.phase); the last rest's anchors are still readable."""

    def on_sample(self, ctx):
        """Every sample, after the context took it."""

    def on_rest_end(self, ctx):
        """A long rest ended (ctx.rest_soc is fresh; ctx.last_active: the phase before it)."""

    def on_charge_end(self, ctx):
        """A long charge ended."""

    def on_discharge_end(self, ctx):
        """A long discharge ended."""

    def on_load_step(self, ctx):
        """The first sample of a charge or discharge after a long rest (ctx.v_avg: the rest's relaxed voltages)."""
