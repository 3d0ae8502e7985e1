"""Training: pacemaker ACE fits as a CalcJob (``PacemakerCalculation``), its parser and a restart work chain."""
