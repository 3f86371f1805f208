@chcp 65001 >NUL
REM svgauto : sauvegarde des dossiers modifiés de la base D:\Cabinet,
REM chaque jour à 21:00, par le collaborateur COMPT.
REM
REM À exécuter dans une invite de commandes (cmd.exe, pas PowerShell) ouverte en
REM tant qu'administrateur ; la première ligne fait lire ces lignes en UTF-8.
REM La tâche s'exécute sous svgauto, compte dédié qui a les droits sur les dossiers
REM de la base et sur le répertoire de sauvegarde, comme le recommande la
REM documentation du produit d'origine. /RP * demande son mot de passe : la tâche
REM s'exécute alors « que l'utilisateur soit connecté ou non ». /RL HIGHEST :
REM « exécuter avec les autorisations maximales ».
REM
REM Rapports de traitement : D:\Cabinet\sauve\log\
REM Dernier résultat de la tâche : 0 tout est sauvegardé ; 1 (0x1) au moins un
REM dossier en erreur (voir le rapport) ; 2 (0x2) le traitement n'a pas pu avoir lieu.
REM Pour rattraper un traitement manqué (serveur éteint à 21:00) : Planificateur de
REM tâches, propriétés de la tâche, onglet Paramètres, « Exécuter la tâche dès que
REM possible si un démarrage planifié est manqué ».
schtasks /Create /TN "svgauto\Sauvegarde des dossiers modifiés" /TR "\"C:\Program Files\svgauto\svgauto.exe\" run --base D:\Cabinet --user COMPT --no-progress" /SC DAILY /ST 21:00 /RU svgauto /RP * /RL HIGHEST /F
