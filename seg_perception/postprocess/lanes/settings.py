"""Thresholds of the lane-boundary extraction: :class:`LaneSettings`, a scenario's ``lanes`` block."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from seg_perception.postprocess.settings import settings_values

YELLOW_EDGE_SIDES = ("", "left", "right")  # LaneSettings.yellow_edge_side
# the car is at a junction whose stop line or crosswalk begins less than this far beyond the bottom
# image row: the stretch of lane before it is too short to steer by, its lines are of the road across
# (LaneSettings.at_junction_m; the synthetic drives' truth, training.lane_eval, follows it)
AT_JUNCTION_M = 1.0


@dataclass(frozen=True)
class LaneSettings:
    """Thresholds of the lane-boundary extraction (the ``lanes`` block of a scenario config).

    Lengths in metres apply to the ground plane (pseudo-ground metres when uncalibrated).
    """

    lane_class: str = "lane_marking"
    crosswalk_class: str = "crosswalk"
    rows: int = 128  # sampled rows over the image height
    max_hole_px: int = 2
    transverse_width_m: float = 0.9
    cluster_gap_m: float = 0.7
    # calibrated cameras: a tracklet farther than this (growing like max_shape_residual_m with the
    # distance ahead) from the median offset of its line's tracklets, beside none of them, is left
    # out of the line (0: never): a tar seam or a shadow's edge half a metre beside a line's near dash
    # joins the line within cluster_gap_m, and the line, fitted through both, and the road shape shared
    # by all lines turn towards it (2.5 degrees on the real video). A double line's second stripe runs
    # beside its first and stays. Not applied in image space, where a line's pseudo-metre offset drifts
    # along the road under a horizon a few rows off and its nearest dash would be taken for a stray
    max_member_offset_m: float = 0.0
    double_min_sep_m: float = 0.1
    double_max_sep_m: float = 0.75
    min_samples: int = 3
    min_painted_m: float = 1.0  # paint length along a boundary below which it is a blob, not a line
    max_range_m: float = 90.0
    dashed_max_coverage: float = 0.8
    min_gap_m: float = 1.0
    type_min_span_m: float = 10.0
    # solid or dashed is told from the paint within this distance beyond the line's nearest paint
    # (0: all of it): far away a dash and its gap shrink to a row or two of the mask and the model's
    # paint runs them together, so a dashed line's far stretch reads as solid
    type_window_m: float = 0.0
    max_lines: int = 8
    # the farthest position published on either side, as in left_N / right_N (0: every line): lines
    # three lanes out and farther are a few far pixels of paint, and lane labels (TuSimple's
    # included) hold the ego lane and its neighbours
    farthest_position: int = 0
    shape_range_m: float = 30.0  # tracklets starting nearer than this fit the road shape
    max_shape_residual_m: float = 0.25  # tracklets farther from the shape are not lane lines
    # a tracklet whose run centres move across the image by less than this share of what a line
    # along the road at its offset would over its rows (and that is more than its runs are wide) is
    # a blob the sampled rows cannot resolve, and only its centre is a point of the line (0: never):
    # far to the side a line crosses many columns per row, and the model draws its far dashes as
    # blobs a few pixels wide, so every row cuts a dash at its centre and the samples run along the
    # camera's ray instead of the line (their spread failed max_shape_residual_m)
    blob_shift_ratio: float = 0.0
    shape_prior: float = 0.3
    shape_span_m: float = 20.0  # boundaries shorter than this lean on the shared road shape
    # the share of shape_prior that pulls a line's heading towards the road's (its curvature terms
    # get all of it). Lines are parallel in the plane only under the true horizon: an estimated
    # horizon a few rows off (uncalibrated), or a camera pitched otherwise than its calibration says
    # (braking, a load, a slope ahead), turns each line there by an amount proportional to its
    # offset, so an outer line pulled to the road's heading leaves its own paint near the car
    heading_prior: float = 0.01
    # calibrated cameras: the lines' vanishing point (smoothed over frames like the image space's) moves
    # the calibration's horizon by up to this share of the frame height (0: never): braking, a load or a
    # slope ahead pitch the camera away from its calibration, and the whole road shifts by as many rows
    pitch_from_lines: float = 0.0
    min_extrapolation_m: float = 8.0
    # nearer than its nearest paint a boundary runs on along its tangent there instead of its
    # polynomial (False: the polynomial's curvature is extrapolated towards the car); a curvature
    # fitted to far paint alone (the near stretch hidden by glare, worn, or in a dash gap) bends
    # the extrapolation away from the line where it matters most
    near_straight: bool = False
    # paint that begins farther ahead than this (0: no limit) is not made a boundary: its offset at
    # the car is a long extrapolation (a far blob, or the far end of a curve the shared shape does
    # not follow), and ranked by that offset it would take the position of a line seen near the car
    max_paint_start_m: float = 0.0
    # paint spanning less than this along the road (0: no limit) is not made a boundary: a lone
    # fleck of paint, a glint or a kerb's corner seen over a metre or two, not a line. Measured on
    # the span from the first to the last paint, not on the painted length, so that Botts' dots
    # (little paint over a long span) stay lines
    min_paint_span_m: float = 0.0
    # calibrated cameras: paint that begins farther ahead than far_paint_start_m (0: no check) is
    # a boundary only if it spans at least far_paint_min_span_m: a few metres of paint far ahead
    # (a vehicle's edge, a bit of barrier, a line of another carriageway) give a boundary whose
    # offset at the car is extrapolated over several times their length. Not applied in image
    # space, whose pseudo-metres far ahead have no reliable scale
    far_paint_start_m: float = 0.0
    far_paint_min_span_m: float = 0.0
    # a boundary is continued along its curve to this distance ahead (0: only to its paint), as
    # lane labels run through paint hidden by vehicles or too thin far away for the mask; a
    # stop line or crosswalk ahead ends it first
    extend_to_m: float = 60.0
    # past the farthest paint of its line a boundary runs on along its tangent there instead of
    # its polynomial (False: the polynomial's curvature is extrapolated); a curvature fitted to a
    # few metres of paint grows sideways over tens of metres of run-on (hooks near the horizon)
    run_on_straight: bool = False
    # calibrated cameras: the nearest line on a side is an ego boundary only if the ego lane it
    # makes is at most this wide (with one side seen: it lies within this of the car); else it is
    # named one position out, so a missed ego line does not turn its neighbour into the ego
    # boundary, a lane away. Farther out likewise: a line more than this beyond its inner
    # neighbour is named a position further out per lane that fits in the gap (a missed line, or
    # a shoulder and median before another carriageway's lines) (0: no check)
    max_lane_width_m: float = 0.0
    # calibrated cameras: the car's own lane is at least this wide at the car (no car fits a narrower
    # one); of two nearest lines either side closer than this, the less confident is no lane line (a
    # seam, a shadow's edge or glare taken for paint) and is dropped (0: no check)
    min_lane_width_m: float = 0.0
    # "left" / "right" ("": neither): a solid yellow line on this side of the car is the edge of
    # its carriageway, and nothing beyond it is a lane boundary (right-hand traffic's divided
    # highways paint their left edge yellow; beyond it lie a shoulder, a barrier or a guardrail,
    # whose long bright edges a model takes for paint)
    yellow_edge_side: str = ""
    # paint is a stripe: brighter (HSV value) than the ground on both of its sides by at least
    # stripe_contrast. A boundary whose samples are such stripes in less than this share (0: no
    # check) is not made: the edge of snow on the road, of a sunlit kerb or of a wall is bright on
    # one side only, and a model takes its long straight edge for paint
    min_stripe_share: float = 0.0
    stripe_contrast: float = 8.0
    yellow_min_saturation: int = 70
    yellow_hue: tuple[int, int] = (10, 40)
    yellow_min_share: float = 0.4
    nominal_height_m: float = 1.4
    nominal_hfov_deg: float = 70.0
    # uncalibrated: the vanishing point of the paint lies within this pitch (rows) and this yaw
    # (columns) of the image centre for the nominal field of view; lane-line crossings farther
    # out (a shadow edge or a blob crossing a line) are not taken for it
    vanishing_max_pitch_deg: float = 12.0
    vanishing_max_yaw_deg: float = 15.0
    # uncalibrated: tracklets spanning at least this share of the image height vote for the
    # vanishing point first, the shorter ones only when those give none; a model's short paint
    # fragments (far dashes, blobs) have noisy directions that bias it (upwards, 6-32 px of 540 on
    # the held-out drives), but where a line is only dashes they are all there is
    vanishing_long_span: float = 0.05
    # uncalibrated: tracklets on one straight image line (within this share of the height, RMS)
    # are joined before they vote, so that a line's dashes vote with the direction of the whole
    # line (0: each tracklet alone); a model's short dashes have noisy directions of their own
    vanishing_join: float = 0.0
    # uncalibrated: two lines leaning the same way vote for the vanishing point when their
    # directions differ by at least this angle and a third line passes through their crossing
    # (within vanishing_join), only where no lines either side of the car give one (0: never), so
    # that a car at the road's edge, with all its lines on one side, still finds the horizon.
    # Both off in the code's defaults, on in config/highway.yaml: measured in docs/lanes_history.md
    # (better on most synthetic drives, on true masks and on 18 fresh highway drives)
    vanishing_same_side_deg: float = 0.0
    # uncalibrated: when nothing above gives a vanishing point, two long lines leaning the same
    # way whose directions differ by at least this angle vote without a third line through their
    # crossing (0: never), rather than the nominal guess; a camera that sees the lines of one side
    # only (a snow bank or an unpainted edge on the other) otherwise keeps a horizon it never found
    vanishing_pair_deg: float = 0.0
    # uncalibrated: this share of each tracklet's rows is left out at either end before it votes
    # (0: none); the end rows of a slanted dash cut its end at a slant, or are a model's rounded
    # caps, and their run centres pull the tracklet's direction towards the vertical, which moves
    # the crossing above the horizon (11-18 px of 540 on model masks of development drives)
    vanishing_trim: float = 0.0
    # uncalibrated, on a stream: a frame's estimate farther than VP_JUMP from the smoothed one is
    # ignored as an outlier; when at least this many frames in a row give such estimates that agree
    # with each other, and more of them than frames confirmed the smoothed one (up to
    # VP_SUPPORT_CAP), their median replaces it (0: never), so that a wrong first estimate cannot
    # hold for the rest of a drive against every later frame's paint, nor a few agreeing outliers
    # replace a horizon that many frames confirmed
    vanishing_reanchor_frames: int = 0
    stop_line_min_length_m: float = 1.5
    stop_line_max_depth_m: float = 1.2
    crosswalk_join_m: float = 1.5
    # a stop line or crosswalk ends the boundaries only when its lateral span comes within this
    # distance of the car's axis at its row (0: every one does); transverse paint off to the side,
    # such as a tail light or the edge of a lane two over, would otherwise cut every boundary
    junction_corridor_m: float = 0.0
    # with junction_corridor_m: whether transverse paint off the car's path is still reported as a
    # stop line (it ends no boundary either way); False where roads have no stop lines beside the
    # car's path (highways), so a far dash seen at a slant is not published as one
    off_path_stop_lines: bool = True
    # crossing a junction whose stop line or crosswalk has left the frame (the previous frame's
    # boundaries were across it), boundaries start at their first paint until paint comes within
    # this distance of the bottom image row: the car has reached the painted road
    junction_exit_m: float = 2.0
    # across a junction every boundary starts where the nearest double or solid line's paint does; a
    # solid one counts with at least this much paint, however short a line type_min_span_m types as
    # solid (10: type_min_span_m's default, with which that step was measured; counting 5-10 m pieces
    # moved the road's boundaries, docs/lanes_history.md rule 34)
    junction_solid_min_span_m: float = 10.0
    # a stop line or crosswalk beginning less than this beyond the bottom image row is the junction
    # the car is at: boundaries are of the road across it
    at_junction_m: float = AT_JUNCTION_M
    # a junction with no stop line or crosswalk on the car's road (or one the model missed) shows as a
    # stretch of road at least this long with no lane paint on it while lines at least
    # min_lane_width_m apart go on both before and after it: the lines end there as at a marked one
    # (0: not looked for; calibrated cameras only, the length is in metres). Longer than the gaps
    # between dashes (9 m on US skip lines, whose dashes on neighbouring lines often line up)
    unmarked_junction_m: float = 0.0
    # a boundary starts where its curve enters the frame (the bottom row or a side) rather than at
    # its first rendered sample inside, up to one sample spacing (7 % of the distance) further on
    start_at_frame_edge: bool = False
    # the car's hood may cover up to this share of the frame's height (0: never looked for): where
    # the frame shows one (postprocess.hood), boundaries start at its edge, not on the car itself
    hood_max_share: float = 0.0

    def __post_init__(self) -> None:
        if self.yellow_edge_side not in YELLOW_EDGE_SIDES:
            raise ValueError(
                f"yellow_edge_side must be one of {YELLOW_EDGE_SIDES}, not {self.yellow_edge_side!r}"
            )
        if not 0.0 <= self.min_stripe_share <= 1.0:
            raise ValueError(f"min_stripe_share must lie in [0, 1], not {self.min_stripe_share}")
        if self.unmarked_junction_m < 0.0:
            raise ValueError(f"unmarked_junction_m must not be negative, not {self.unmarked_junction_m}")
        if self.unmarked_junction_m > 0.0 and self.min_lane_width_m <= 0.0:
            raise ValueError(
                "unmarked_junction_m needs min_lane_width_m (how far apart the lines it sees are)"
            )
        if not 0.0 <= self.blob_shift_ratio <= 1.0:
            raise ValueError(f"blob_shift_ratio must lie in [0, 1], not {self.blob_shift_ratio}")
        if self.farthest_position < 0:
            raise ValueError(f"farthest_position must not be negative, not {self.farthest_position}")
        if self.junction_solid_min_span_m < 0.0:
            raise ValueError(
                f"junction_solid_min_span_m must not be negative, not {self.junction_solid_min_span_m}"
            )
        if self.max_member_offset_m < 0.0:
            raise ValueError(f"max_member_offset_m must not be negative, not {self.max_member_offset_m}")
        if self.heading_prior < 0.0:
            raise ValueError(f"heading_prior must not be negative, not {self.heading_prior}")
        if not 0.0 <= self.pitch_from_lines < 0.5:
            raise ValueError(
                f"pitch_from_lines must lie in [0, 0.5) (a share of the height), not {self.pitch_from_lines}"
            )

    def vanishing_region(self, size: tuple[int, int]) -> tuple[float, float, float, float]:
        """``(u_min, u_max, v_min, v_max)`` pixels of a frame of ``size`` where the vanishing point can be."""
        height, width = size
        focal = (width / 2.0) / math.tan(math.radians(self.nominal_hfov_deg) / 2.0)
        du = focal * math.tan(math.radians(self.vanishing_max_yaw_deg))
        dv = focal * math.tan(math.radians(self.vanishing_max_pitch_deg))
        return width / 2.0 - du, width / 2.0 + du, height / 2.0 - dv, height / 2.0 + dv

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> LaneSettings:
        """From a config block; unknown keys are an error, so that typos do not go unnoticed.

        Raises:
            ValueError: an unknown key.
        """
        return cls(**settings_values(cls(), values, "lane settings"))
