from django.urls import path

from analysis import views

urlpatterns = [
    path("analysis/", views.AnalysisSubmitView.as_view(), name="analysis-list"),
    path("analysis/<str:job_id>/", views.AnalysisDetailView.as_view(), name="analysis-detail"),
    path("analysis/<str:job_id>/waveform.json", views.AnalysisWaveformView.as_view(), name="analysis-waveform"),
]
