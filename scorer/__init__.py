"""vcc's scorer: recompute the official challenge score bit for bit.

The data's path, module by module: _assets (the checkout) -> _decode / _dali (ground-truth frames,
raws) -> _nets (SegNet, PoseNet) -> _distortion (inputs, per-sample distortions) -> _score (the
pipeline, accumulation, the score; _cache for the ground truth, _spread across numerics) -> _report.

Names load on first use (PEP 562): `import vcc.scorer` does not import torch, so commands that only
parse arguments or list the cache never pay for it; `from vcc.scorer import score_submission` loads
the pipeline.
"""

from __future__ import annotations

from vcc.base import lazy_exports

# Each module's public names, in the data's order.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "._assets": (
        "FRAME_BYTES", "FRAME_H", "FRAME_W", "OFFICIAL_ASSETS", "AssetInfo", "Challenge", "VideoAsset",
        "asset_sha256", "is_lfs_pointer", "read_names_file",
    ),
    "._targets": ("DECODE_CHOICES", "DALI_VARIANTS", "DECODE_TARGETS", "DecodeTarget", "decode_target",
                   "frame_converter", "runner_target"),
    "._container": ("YuvFrame", "count_video_frames", "iter_yuv_frames", "raw_frame_count"),
    "._decode": (
        "iter_rgb_frames", "open_raw_frames", "pair_batches", "raw_pair_batches", "upsample_chroma",
        "yuv420_to_rgb_pyav",
    ),
    "._dali": ("yuv420_to_rgb_dali", "ARITHMETICS", "dali_conversion_for"),
    "._dali_oracle": ("chroma_oracle", "frame_oracle", "matrix_oracle"),
    "._dali_bundle": ("write_bundle",),
    "._axis": ("AXES", "axis_line", "score_axis"),
    "._grid": ("GRID_SCHEMA", "grid_text", "score_grid"),
    "._nets": ("build_posenet", "build_segnet", "load_nets", "load_weights"),
    "._distortion": (
        "NetOutputs", "net_outputs", "pose_distortion", "posenet_input", "rgb_to_yuv6", "seg_distortion",
        "segnet_input", "to_model_input",
    ),
    "._options": (
        "ScoreOptions", "READ_AHEAD_CHOICES", "add_score_options", "default_decode", "torch_default_threads",
    ),
    "._config": ("ScoreConfig",),
    "._validate": ("RawCheck", "batch_sizes", "check_archive", "check_raws", "file_kind", "official_loop_outcome"),
    "._memory": ("limit_heap_retention", "request_huge_pages"),
    "._score": ("Accumulator", "library_versions", "score_submission"),
    "._result": ("SCORE_SCHEMA", "ScoreResult", "TargetResult", "compare_targets"),
    "._breakdown": ("TERM_NAMES", "decomposition", "marginal_costs"),
    "._estimate": ("Unit", "MeanEstimate", "Interval", "estimate_means", "score_estimate", "difference_estimate",
                    "t_quantile"),
    "._sampling": ("DESIGNS", "SampleOptions", "SampleDesign", "draw_pairs"),
    "._sampled": ("score_sample", "compare_sample", "sample_pair_values"),
    "._progressive": ("ProgressiveRun", "batch_order"),
    "._pairs": ("PAIR_COLUMNS", "pair_rows", "pairs_table", "pairs_csv", "write_pairs", "read_pairs", "reaccumulate"),
    "._load": ("load_score_report", "load_run_report"),
    "._compare": ("LoadedReport", "compare_reports", "compare_text", "pair_deltas", "term_deltas"),
    "._frames": ("PairView", "rerun_pairs"),
    "._plots": ("SEG_PALETTE", "PlotSet", "make_plots"),
    "._html": ("render_html",),
    "._spread": ("score_spread", "spread_variants"),
    "._cache": ("CacheKey", "GroundTruthCache", "default_cache_dir"),
    "._report": (
        "job_report_paths", "numerics_line", "official_report_text", "score_formula", "terminal_summary",
        "write_atomic", "write_json_atomic",
    ),
}

__all__ = [name for names in _EXPORTS.values() for name in names]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
